;; Calls in tail position run in constant C stack and constant heap.  The
;; loops run longer than the number of nested evaluations the interpreter
;; allows, (recursion-limit): 100,000, or 10,000 under ThreadSanitizer.  Any
;; of them would fail with "recursion too deep" if a tail call were not one.

(define n (+ (recursion-limit) 1000))

(define (loop-to n)
  (let loop ((i 0))
    (if (< i n) (loop (+ i 1)) i)))
(display "named let: ") (display (loop-to 1000000)) (newline)

(define (my-even? n) (if (= n 0) #t (my-odd? (- n 1))))
(define (my-odd? n) (if (= n 0) #f (my-even? (- n 1))))
(display "mutual recursion: ") (display (my-even? (+ n 1))) (newline)

;; Every kind of tail position.
(define (count-cond n) (cond ((= n 0) 'done) (else (count-cond (- n 1)))))
(define (count-cond-test n) (cond ((= n 0) 'done) ((> n 0) (count-cond-test (- n 1)))))
(define (count-and n) (and #t (if (= n 0) 'done (count-and (- n 1)))))
(define (count-or n) (or #f (if (= n 0) 'done (count-or (- n 1)))))
(define (count-let n) (let ((m (- n 1))) (if (< m 0) 'done (count-let m))))
(define (count-let* n) (let* ((a n) (m (- a 1))) (if (< m 0) 'done (count-let* m))))
(define (count-letrec n) (letrec ((m (- n 1))) (if (< m 0) 'done (count-letrec m))))
(define (count-begin n) (begin 'ignored (if (= n 0) 'done (count-begin (- n 1)))))
(define (count-lambda n) ((lambda (m) (if (< m 0) 'done (count-lambda m))) (- n 1)))
(define (count-rest . args)
  (if (= (car args) 0) 'done (count-rest (- (car args) 1) 'extra)))
(display "tail positions: ")
(display (map (lambda (f) (f n))
              (list count-cond count-cond-test count-and count-or count-let count-let*
                    count-letrec count-begin count-lambda count-rest)))
(newline)

;; A loop with an accumulator and set! on a captured variable.
(define total 0)
(define (add-up n)
  (let loop ((i 1))
    (if (<= i n)
        (begin (set! total (+ total i))
               (loop (+ i 1))))))
(add-up n)
(display "set! in a loop: ") (display (= total (quotient (* n (+ n 1)) 2))) (newline)

;; After all that, nothing is left live but the program itself.
(gc)
(display "live heap after a full collection under 1 MB: ")
(display (< (cdr (assq 'heap-live (gc-stats))) 1000000))
(newline)
