;; churn.scm: the interpreter benchmark (bench/run's case "lisp").  What an
;; interpreter's program does to a collector: it builds and drops many
;; short-lived trees and lists (and, under the hood, argument lists and
;; environment frames on every call) while a structure stays live and is
;; updated, old objects made to point at new ones.
;;
;;   lisp churn.scm [ROUNDS]        (default 40)
;;
;; With ROUNDS given it also prints the number of collections ("cycles
;; N"); without, its output is fixed (the lisp_churn test).
;;
;; A round builds and checks a tree of depth 10 (2,047 pairs), builds a
;; list of 500 numbers, reverses it and maps over it, and stores a fresh
;; list of 20 numbers into one of 1,000 slots of a live vector (slot
;; 7 r mod 1000 in round r).  A tree of depth 14 (32,767 pairs) stays live
;; throughout.  The checksum is exact, so bench/run computes it too:
;;   ROUNDS x (2047 + 249500) + 32767 + min(ROUNDS, 1000) x 190

(define args (cdr (command-line)))
(define rounds (if (pair? args) (string->number (car args)) 40))

(define (make-tree depth)
  (if (= depth 0)
      (cons '() '())
      (cons (make-tree (- depth 1)) (make-tree (- depth 1)))))

(define (check tree)
  (if (null? (car tree))
      1
      (+ 1 (check (car tree)) (check (cdr tree)))))

(define (iota n)
  (let loop ((i (- n 1)) (acc '()))
    (if (< i 0) acc (loop (- i 1) (cons i acc)))))

(define (sum l)
  (let loop ((l l) (s 0))
    (if (null? l) s (loop (cdr l) (+ s (car l))))))

(define slots 1000)
(define live-tree (make-tree 14))
(define table (make-vector slots '()))

(define (round r)
  (let ((tree-check (check (make-tree 10)))
        (doubled (map (lambda (x) (* 2 x)) (reverse (iota 500)))))
    (vector-set! table (modulo (* 7 r) slots) (iota 20))
    (+ tree-check (sum doubled))))

(define (run r total)
  (if (< r rounds)
      (run (+ r 1) (+ total (round r)))
      total))

(define churned (run 0 0))
(define kept
  (let loop ((i 0) (s 0))
    (if (< i slots) (loop (+ i 1) (+ s (sum (vector-ref table i)))) s)))

(display "checksum ")
(display (+ churned (check live-tree) kept))
(newline)
(if (pair? args)
    (begin
      (display "cycles ")
      (display (cdr (assq 'cycles (gc-stats))))
      (newline)))
