;; strings.scm: a string builder.  A builder collects pieces in a list,
;; newest first, with their total length, and joins them with one
;; string-append at the end: building a string of n pieces costs O(total)
;; instead of the O(n * total) of appending piece by piece.

(define (make-builder) (vector '() 0))
(define (builder-add! b s)
  (vector-set! b 0 (cons s (vector-ref b 0)))
  (vector-set! b 1 (+ (vector-ref b 1) (string-length s))))
(define (builder-length b) (vector-ref b 1))
(define (builder->string b) (apply string-append (reverse (vector-ref b 0))))

(define (fizzbuzz n)
  (cond ((= (remainder n 15) 0) "FizzBuzz")
        ((= (remainder n 3) 0) "Fizz")
        ((= (remainder n 5) 0) "Buzz")
        (else (number->string n))))

;; "1,2,Fizz,4,Buzz,..." up to n.
(define (fizzbuzz-string n)
  (let ((b (make-builder)))
    (let loop ((i 1))
      (if (<= i n)
          (begin
            (if (> i 1) (builder-add! b ","))
            (builder-add! b (fizzbuzz i))
            (loop (+ i 1)))))
    (if (not (= (builder-length b) (string-length (builder->string b))))
        (error "builder: wrong length"))
    (builder->string b)))

(define (count-substring s pattern)
  (let ((n (string-length s)) (k (string-length pattern)))
    (let loop ((i 0) (count 0))
      (cond ((> (+ i k) n) count)
            ((string=? (substring s i (+ i k)) pattern) (loop (+ i k) (+ count 1)))
            (else (loop (+ i 1) count))))))

(define s (fizzbuzz-string 20))
(display s) (newline)
(write (substring s 0 12)) (newline)

(define big (fizzbuzz-string 3000))
(display "length of fizzbuzz up to 3000: ") (display (string-length big)) (newline)
(display "FizzBuzz occurrences: ") (display (count-substring big "FizzBuzz")) (newline)
(display "the last piece: ") (display (substring big (- (string-length big) 8) (string-length big)))
(newline)

;; Symbols and strings: string->symbol interns, so equal names are eq?.
(define names (map (lambda (i) (string-append "sym-" (number->string i))) '(1 2 3)))
(display "symbols: ") (write (map string->symbol names)) (newline)
(display "interned: ")
(display (eq? (string->symbol (string-append "sym-" "2")) (string->symbol (cadr names))))
(newline)
(display "round trip: ")
(write (symbol->string (string->symbol "hello world")))
(newline)

;; Build the same big string ten more times; every copy must be equal.
(define (again k)
  (or (= k 0)
      (and (string=? (fizzbuzz-string 3000) big) (again (- k 1)))))
(display "ten rebuilds equal: ") (display (again 10)) (newline)
