;; binarytrees.scm: allocate and walk perfect binary trees (the benchmarks
;; game's binary-trees, with fewer depths and iterations).  A tree is a pair
;; of subtrees; a leaf is a pair of empty lists.  A long-lived tree of depth
;; 16 (131,071 nodes) stays reachable while many short-lived trees come and
;; go around it.

(define (make-tree depth)
  (if (= depth 0)
      (cons '() '())
      (cons (make-tree (- depth 1)) (make-tree (- depth 1)))))

(define (check tree)
  (if (null? (car tree))
      1
      (+ 1 (check (car tree)) (check (cdr tree)))))

(define (expt2 n) (if (= n 0) 1 (* 2 (expt2 (- n 1)))))

(define min-depth 4)
(define max-depth 16)

(define (show . items)
  (for-each display items)
  (newline))

(let ((stretch (+ max-depth 1)))
  (show "stretch tree of depth " stretch ", check: " (check (make-tree stretch))))

(define long-lived (make-tree max-depth))

;; 2^(max-depth - depth - 2) trees of depths 4, 8 and 12: about 32,000
;; nodes at each depth.
(let loop ((depth min-depth))
  (if (< depth max-depth)
      (let ((iterations (expt2 (- max-depth depth 2))))
        (let count ((i 0) (sum 0))
          (if (< i iterations)
              (count (+ i 1) (+ sum (check (make-tree depth))))
              (show iterations " trees of depth " depth ", check: " sum)))
        (loop (+ depth 4)))))

(show "long-lived tree of depth " max-depth ", check: " (check long-lived))
