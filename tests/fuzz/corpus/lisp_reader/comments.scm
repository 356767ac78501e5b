; a comment
(a ; inside a list
 b) ;; at the end, no newline