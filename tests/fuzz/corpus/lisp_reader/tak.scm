;; tak.scm: the Takeuchi function, the classic benchmark of procedure calls
;; (63,609 calls for (tak 18 12 6)), run several times.  Every call
;; allocates an environment frame, so the collector runs while it works.

(define (tak x y z)
  (if (not (< y x))
      z
      (tak (tak (- x 1) y z)
           (tak (- y 1) z x)
           (tak (- z 1) x y))))

;; Call thunk n times; return the list of its results.
(define (repeat n thunk)
  (let loop ((i 0) (results '()))
    (if (= i n)
        results
        (loop (+ i 1) (cons (thunk) results)))))

(display "(tak 18 12 6) x 8: ")
(display (repeat 8 (lambda () (tak 18 12 6))))
(newline)
(display "(tak 12 8 4) = ")
(display (tak 12 8 4))
(newline)
(display "(tak 6 4 2) = ")
(display (tak 6 4 2))
(newline)
