(display "abc
(newline)
