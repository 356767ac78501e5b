#t #f #true #false (#t . #f)
#x
#
#truex
