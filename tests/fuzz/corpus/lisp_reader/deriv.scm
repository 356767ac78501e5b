;; deriv.scm: symbolic differentiation.  Expressions are lists in prefix
;; form: (+ a b), (* a b), (- a b), (expt u n) with n a number.

(define (variable? e) (symbol? e))

(define (make-sum a b)
  (cond ((and (number? a) (number? b)) (+ a b))
        ((and (number? a) (= a 0)) b)
        ((and (number? b) (= b 0)) a)
        ((equal? a b) (make-product 2 a))
        (else (list '+ a b))))

(define (make-difference a b)
  (cond ((and (number? a) (number? b)) (- a b))
        ((and (number? b) (= b 0)) a)
        ((equal? a b) 0)
        (else (list '- a b))))

(define (make-product a b)
  (cond ((and (number? a) (number? b)) (* a b))
        ((and (number? a) (= a 0)) 0)
        ((and (number? b) (= b 0)) 0)
        ((and (number? a) (= a 1)) b)
        ((and (number? b) (= b 1)) a)
        ((number? b) (make-product b a))
        (else (list '* a b))))

(define (make-power u n)
  (cond ((= n 0) 1)
        ((= n 1) u)
        (else (list 'expt u n))))

;; d(e)/dv
(define (deriv e v)
  (cond ((number? e) 0)
        ((variable? e) (if (eq? e v) 1 0))
        ((eq? (car e) '+) (make-sum (deriv (cadr e) v) (deriv (caddr e) v)))
        ((eq? (car e) '-) (make-difference (deriv (cadr e) v) (deriv (caddr e) v)))
        ((eq? (car e) '*)
         (make-sum (make-product (cadr e) (deriv (caddr e) v))
                   (make-product (deriv (cadr e) v) (caddr e))))
        ((eq? (car e) 'expt)
         (make-product (make-product (caddr e) (make-power (cadr e) (- (caddr e) 1)))
                       (deriv (cadr e) v)))
        (else (error "deriv: unknown operator" (car e)))))

;; Evaluate an expression with x bound to a number.
(define (value-at e x)
  (cond ((number? e) e)
        ((variable? e) x)
        ((eq? (car e) '+) (+ (value-at (cadr e) x) (value-at (caddr e) x)))
        ((eq? (car e) '-) (- (value-at (cadr e) x) (value-at (caddr e) x)))
        ((eq? (car e) '*) (* (value-at (cadr e) x) (value-at (caddr e) x)))
        ((eq? (car e) 'expt)
         (let loop ((k (caddr e)) (acc 1))
           (if (= k 0) acc (loop (- k 1) (* acc (value-at (cadr e) x))))))))

(define (show e)
  (display "d/dx ")
  (write e)
  (display " = ")
  (write (deriv e 'x))
  (newline))

(show '(+ x 3))
(show '(* x y))
(show '(* (* x y) (+ x 3)))
(show '(expt x 5))
(show '(expt (+ (* 3 x) 1) 4))
(show '(- (* x x) (* 2 x)))

;; The derivative of a polynomial of degree 9, and its value at x = 2.
(define poly
  (let loop ((k 9) (e 1))
    (if (= k 0) e (loop (- k 1) (list '+ (list '* k (list 'expt 'x k)) e)))))
(display "p(2) = ") (display (value-at poly 2)) (newline)
(display "p'(2) = ") (display (value-at (deriv poly 'x) 2)) (newline)
(display "p''(2) = ") (display (value-at (deriv (deriv poly 'x) 'x) 2)) (newline)

;; Gabriel's deriv benchmark shape: differentiate the same expression many
;; times; every result must be equal to the first.
(define big '(+ (* 3 x x) (* a x x) (* b x) 5))
(define (gabriel-deriv a)
  (cond ((not (pair? a)) (if (eq? a 'x) 1 0))
        ((eq? (car a) '+) (cons '+ (map gabriel-deriv (cdr a))))
        ((eq? (car a) '-) (cons '- (map gabriel-deriv (cdr a))))
        ((eq? (car a) '*)
         (list '* a (cons '+ (map (lambda (f) (list '/ (gabriel-deriv f) f)) (cdr a)))))
        (else (error "gabriel-deriv: unknown operator" (car a)))))
(define first-result (gabriel-deriv big))
(write first-result)
(newline)
(define (run k)
  (cond ((= k 0) #t)
        ((equal? (gabriel-deriv big) first-result) (run (- k 1)))
        (else #f)))
(display "10000 more derivatives, all equal: ")
(display (run 10000))
(newline)
