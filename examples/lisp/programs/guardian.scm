;; guardian.scm: guardians, the interpreter's finalizers.  (g obj)
;; registers obj with guardian g; once obj is unreachable, (g) returns it,
;; whole (resurrected); (g) is #f when nothing is waiting.  Objects are
;; dropped for real (a global set! to something else, or the end of the
;; form that made them) and (gc) collects and runs the finalizers it
;; queued.  Whatever is checked is held strongly until the check, so
;; collections that start on their own (stress mode) change nothing.

(define (show . items) (for-each display items) (newline))

(define (insert n sorted)
  (if (or (null? sorted) (< n (car sorted)))
      (cons n sorted)
      (cons (car sorted) (insert n (cdr sorted)))))
(define (sort-numbers l)
  (if (null? l) '() (insert (car l) (sort-numbers (cdr l)))))

(define (iota n)
  (let loop ((i (- n 1)) (acc '()))
    (if (< i 0) acc (loop (- i 1) (cons i acc)))))

;; Everything g returns until #f, as a list.
(define (drain g)
  (let loop ((acc '()))
    (let ((x (g)))
      (if x (loop (cons x acc)) acc))))

;; A record with a bit of everything: (n "n" #(n n) (tag . n)).
(define (make-record n) (list n (number->string n) (make-vector 2 n) (cons 'tag n)))
(define (intact? r)
  (let ((n (car r)))
    (and (string=? (cadr r) (number->string n))
         (= (vector-ref (caddr r) 1) n)
         (eq? (car (list-ref r 3)) 'tag)
         (= (cdr (list-ref r 3)) n))))

;; ------------------------------------------------------------------------
;; 1. Resurrection: ten records registered and dropped come back intact; a
;; record still held does not come back.

(define g (make-guardian))
(show "a guardian: " g ", a procedure: " (procedure? g) ", empty: " (g))
(for-each (lambda (i) (g (make-record i))) (iota 10))
(define survivor (make-record 99))
(g survivor)
(gc)
(define back (drain g))
(show "returned: " (length back) " records, numbers " (sort-numbers (map car back)))
(show "  intact: " (map intact? back))
(show "  nothing more: " (g))
(set! back #f) ; no longer registered: they just go
(gc)
(show "  after dropping them: " (g))
(set! survivor #f)
(gc)
(define s (g))
(show "the survivor, dropped at last: " s ", intact: " (intact? s))
(set! s #f)

;; ------------------------------------------------------------------------
;; 2. Registered twice, returned twice; registered again after coming back,
;; returned again.

(let ((r (make-record 7)))
  (g r)
  (g r))
(gc)
(define twice (drain g))
(show "registered twice: returned " (length twice) " times, the same object: "
      (eq? (car twice) (cadr twice)))
(g (car twice))
(set! twice #f)
(gc)
(define again (g))
(show "registered again: returned again: " (car again) ", then " (g))
(set! again #f)

;; ------------------------------------------------------------------------
;; 3. Order: a registered object that refers to another registered object
;; comes back first; the other only once the first is gone.

(let ((outer (list 'outer (list 'inner))))
  (g outer)
  (g (cadr outer)))
(gc)
(define round-1 (drain g))
(show "first round: " (map car round-1))
(set! round-1 #f)
(gc)
(show "second round: " (map car (drain g)))

;; ------------------------------------------------------------------------
;; 4. Guardians and weak tables.  An object kept for its finalizer is not
;; dead yet: weak references to it stay valid, and after resurrection it
;; is the same object.

(define seen (make-weak-table 'value))
(let ((r (make-record 11)))
  (g r)
  (weak-table-set! seen 'r r))
(gc)
(show "resurrected, the weak table still has it: " (eq? (weak-table-ref seen 'r) (g)))
(gc)
(show "  once dropped again: " (weak-table-ref seen 'r 'gone))

;; ------------------------------------------------------------------------
;; 5. A guardian that is itself dropped keeps nothing: the objects
;; registered with it die with it (their finalizers find it gone), whether
;; they become unreachable with it or later.

(define watch (make-weak-table 'value))
(define g2 (make-guardian))
(for-each (lambda (i)
            (let ((r (make-record i)))
              (g2 r)
              (weak-table-set! watch i r)))
          (iota 5))
(define held (make-record 5))
(g2 held)
(weak-table-set! watch 5 held)
(set! g2 #f)
(gc)
(gc)
(show "guardian dropped: " (weak-table-keys watch) " still there")
(set! held #f)
(gc)
(gc)
(show "  and then: " (weak-table-count watch) " left")

;; ------------------------------------------------------------------------
;; 6. Threads: another thread registers and drops 1000 objects (finalizers
;; may run on either thread, at its safe points); this one takes them.

(define g3 (make-guardian))
(define worker
  (spawn (lambda ()
           (for-each (lambda (i) (g3 (list i))) (iota 1000))
           'done)))
(show "worker: " (join worker))
(gc)
(define from-worker (drain g3))
(show "from the worker: " (length from-worker) " objects, sum "
      (apply + (map car from-worker)))
