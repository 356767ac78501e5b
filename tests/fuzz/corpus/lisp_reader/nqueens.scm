;; nqueens.scm: every way to place n queens on an n x n board so that no
;; two attack each other.  A solution is a list of rows, one per column.

(define (one-to n)
  (let loop ((i n) (l '()))
    (if (= i 0) l (loop (- i 1) (cons i l)))))

;; Can a queen go in `row`, `dist` columns right of the queens in `placed`?
(define (ok? row dist placed)
  (or (null? placed)
      (and (not (= (car placed) (+ row dist)))
           (not (= (car placed) (- row dist)))
           (ok? row (+ dist 1) (cdr placed)))))

;; candidates: rows still to try here; skipped: rows tried and put back;
;; placed: the queens so far, nearest column first.
(define (solve candidates skipped placed)
  (if (null? candidates)
      (if (null? skipped) (list placed) '())
      (let ((row (car candidates)))
        (append (if (ok? row 1 placed)
                    (solve (append (cdr candidates) skipped) '() (cons row placed))
                    '())
                (solve (cdr candidates) (cons row skipped) placed)))))

(define (queens n) (solve (one-to n) '() '()))

(define (show-board solution)
  (for-each (lambda (row)
              (for-each (lambda (col) (display (if (= col row) " Q" " .")))
                        (one-to (length solution)))
              (newline))
            solution))

(display "solutions for n = 1..8: ")
(display (map (lambda (n) (length (queens n))) (one-to 8)))
(newline)

(define eight (queens 8))
(display "8 queens: ")
(display (length eight))
(display " solutions, the first: ")
(display (car eight))
(newline)
(show-board (car eight))

;; Again, to give the collector work: the solutions must not change.
(define (same-every-time k)
  (or (= k 0)
      (and (equal? (queens 8) eight) (same-every-time (- k 1)))))
(display "8 queens solved 5 more times, same solutions: ")
(display (same-every-time 5))
(newline)
