;; destruct.scm: destructive list operations.  Lists are relinked in
;; place with set-cdr! and updated with set-car!, on pseudo-random data.

(define seed 42)
;; The next pseudo-random number in [0, limit): a linear congruential
;; generator modulo 2^31, taking bits 16..30.
(define (random! limit)
  (set! seed (modulo (+ (* seed 1103515245) 12345) 2147483648))
  (modulo (quotient seed 65536) limit))

(define (random-list n limit)
  (let loop ((i 0) (l '()))
    (if (= i n) l (loop (+ i 1) (cons (random! limit) l)))))

(define (reverse! l)
  (let loop ((l l) (done '()))
    (if (null? l)
        done
        (let ((next (cdr l)))
          (set-cdr! l done)
          (loop next l)))))

;; Merge two sorted lists by relinking their pairs behind a dummy head.
(define (merge! a b)
  (let ((head (cons 'head '())))
    (let loop ((tail head) (a a) (b b))
      (cond ((null? a) (set-cdr! tail b) (cdr head))
            ((null? b) (set-cdr! tail a) (cdr head))
            ((<= (car a) (car b)) (set-cdr! tail a) (loop a (cdr a) b))
            (else (set-cdr! tail b) (loop b a (cdr b)))))))

;; Merge sort: cut the list in two, sort each half, merge.
(define (sort! l)
  (let ((n (length l)))
    (if (< n 2)
        l
        (let* ((middle (list-tail l (- (quotient n 2) 1)))
               (back (cdr middle)))
          (set-cdr! middle '())
          (merge! (sort! l) (sort! back))))))

(define (sorted? l)
  (or (null? l) (null? (cdr l))
      (and (<= (car l) (cadr l)) (sorted? (cdr l)))))

;; Unlink every element that satisfies pred.
(define (delete! pred l)
  (let ((head (cons 'head l)))
    (let loop ((prev head))
      (cond ((null? (cdr prev)) (cdr head))
            ((pred (cadr prev)) (set-cdr! prev (cddr prev)) (loop prev))
            (else (loop (cdr prev)))))))

(define (square! l)
  (let loop ((p l))
    (if (pair? p)
        (begin (set-car! p (* (car p) (car p)))
               (loop (cdr p)))))
  l)

(define (append! a b)
  (if (null? a)
      b
      (let loop ((p a))
        (if (null? (cdr p))
            (begin (set-cdr! p b) a)
            (loop (cdr p))))))

(define l (random-list 16 100))
(display "list:          ") (display l) (newline)
(define s (sort! l))
(display "sort!:         ") (display s) (newline)
(define r (reverse! s))
(display "reverse!:      ") (display r) (newline)
(define d (delete! even? r))
(display "delete! even?: ") (display d) (newline)
(display "square!:       ") (display (square! d)) (newline)
(display "append!:       ") (display (append! d (list 'end))) (newline)

;; Rounds over fresh lists of 1000 numbers: sort, check, reverse, drop the
;; even ones; the checksum adds the largest odd number and the count of odd
;; numbers of each round.
(define (rounds k checksum)
  (if (= k 0)
      checksum
      (let ((s (sort! (random-list 1000 100000))))
        (if (not (and (sorted? s) (= (length s) 1000)))
            (error "sort! failed in round" k))
        (let ((odd (delete! even? (reverse! s))))
          (rounds (- k 1) (+ checksum (car odd) (length odd)))))))
(display "checksum of 25 rounds: ")
(display (rounds 25 0))
(newline)
