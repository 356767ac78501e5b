'a ''a '(a 'b) '#(1) '() (quote x) (quote . a) '
