; A form left open at the end of a script is an error too.
(display "complete form")
(newline)
(define (f x)
  (* x 2)
