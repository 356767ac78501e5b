; In script mode an error ends the run: the message goes to stderr and the
; exit status is 1.
(display "before the error")
(newline)
(define (safe-div a b) (quotient a b))
(display (safe-div 10 2))
(newline)
(safe-div 1 0)
(display "never printed")
(newline)
