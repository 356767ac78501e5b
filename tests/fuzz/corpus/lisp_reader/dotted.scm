(a . b) (a b . c) (define (show . items) items) ((a . b) . (c . d)) (a .(b)) (a .b) (..)
