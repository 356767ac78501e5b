;; weak.scm: weak tables.  Objects are dropped for real (a global set! to
;; something else, or the end of the form that made them), then (gc) runs
;; a full collection, and the entries that held them weakly are gone.
;; Whatever is checked is held strongly until the check, so collections
;; that start on their own (TRICOLOR_DEBUG=stress=N) change nothing.

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

;; ------------------------------------------------------------------------
;; 1. A cache with weak values: an entry goes when its value is dropped.

(define cache (make-weak-table 'value))
(define (make-item n) (list n (number->string n) (make-vector 3 n)))
(define all-items (map make-item (iota 20)))
(define even-items '())
(for-each (lambda (item)
            (weak-table-set! cache (car item) item)
            (if (even? (car item)) (set! even-items (cons item even-items))))
          all-items)
(gc)
(show "cache, every value held: " (weak-table-count cache) " entries")
(set! all-items #f)
(gc)
(show "cache, odd values dropped: " (weak-table-count cache) " entries")
(show "  keys: " (sort-numbers (weak-table-keys cache)))
(show "  entry 4: " (weak-table-ref cache 4 'gone))
(show "  entry 5: " (weak-table-ref cache 5 'gone))
(show "  entry 4 is the item held: " (eq? (weak-table-ref cache 4) (list-ref even-items 7)))
(set! even-items '())
(gc)
(show "cache, every value dropped: " (weak-table-count cache) " entries, keys "
      (weak-table-keys cache))

;; ------------------------------------------------------------------------
;; 2. Weak keys with ephemeron semantics: each value refers to its own key,
;; which does not keep the key alive.

(define props (make-weak-table 'key))
(define (make-key n) (list 'key n))
(define held-keys '())
(for-each (lambda (i)
            (let ((k (make-key i)))
              (weak-table-set! props k (list 'value-of k (* i i)))
              (if (< i 3) (set! held-keys (cons k held-keys)))))
          (iota 10))
(gc)
(show "ephemerons, 3 of 10 keys held: " (weak-table-count props) " entries")
(show "  their values: " (map (lambda (k) (caddr (weak-table-ref props k))) held-keys))
(show "  each value refers to its key: "
      (map (lambda (k) (eq? k (cadr (weak-table-ref props k)))) held-keys))
(show "  an unknown key: " (weak-table-ref props (make-key 0) 'none))
(set! held-keys #f)
(gc)
(show "ephemerons, no key held: " (weak-table-count props) " entries")

;; ------------------------------------------------------------------------
;; 3. A chain: the value of each key holds the next key.  Holding the head
;; keeps every link (the collector follows the chain through the values);
;; dropping it lets the whole chain go in one collection.  Links are
;; inserted from the tail, so the collector meets the keys out of order.

(define chain (make-weak-table 'key))
(define chain-length 300)
(define head
  (let loop ((i 0) (next '()))
    (if (= i chain-length)
        next
        (let ((k (list 'link i)))
          (weak-table-set! chain k (list 'next next (make-vector 2 i)))
          (loop (+ i 1) k)))))
(define (walk k)
  (let loop ((k k) (n 0))
    (if (null? k) n (loop (cadr (weak-table-ref chain k)) (+ n 1)))))
(gc)
(show "chain, head held: " (weak-table-count chain) " entries, " (walk head) " links walked")
(set! head #f)
(gc)
(show "chain, head dropped: " (weak-table-count chain) " entries")

;; Two keys whose values refer to each other, held by nothing else: a
;; cycle through values keeps neither.
(define ring (make-weak-table 'key))
(let ((a (list 'a)) (b (list 'b)))
  (weak-table-set! ring a (list 'partner b))
  (weak-table-set! ring b (list 'partner a)))
(gc)
(show "a ring of two keys through their values: " (weak-table-count ring) " entries")

;; ------------------------------------------------------------------------
;; 4. Both weak: an entry goes when its key or its value dies.

(define both (make-weak-table 'both))
(define key-a (list 'key-a))
(define value-a (list 'value-a))
(define key-b (list 'key-b))
(define value-c (list 'value-c))
(weak-table-set! both key-a value-a)           ; both held: stays
(weak-table-set! both key-b (list 'value-b))   ; value dropped: goes
(weak-table-set! both (list 'key-c) value-c)   ; key dropped: goes
(weak-table-set! both (list 'key-d) (list 'value-d)) ; neither held: goes
(gc)
(show "both weak: " (weak-table-count both) " entry: " (weak-table->alist both))
(show "  key-b: " (weak-table-ref both key-b 'gone))
(set! value-a #f)
(gc)
(show "  value-a dropped: " (weak-table-count both) " entries")

;; ------------------------------------------------------------------------
;; 5. Keys that never die, updates, deletion.

(define misc (make-weak-table 'key))
(define k (list 'k))
(weak-table-set! misc 42 (list 'forty-two))  ; a fixnum never dies
(weak-table-set! misc 'sym (list 'symbol))   ; nor does a symbol
(weak-table-set! misc #t (list 'true))       ; nor #t
(weak-table-set! misc k 1)
(weak-table-set! misc k 2)                   ; replaces the value
(gc)
(show "keys that never die, and k: " (weak-table-count misc) " entries")
(show "  42: " (weak-table-ref misc 42) ", sym: " (weak-table-ref misc 'sym)
      ", #t: " (weak-table-ref misc #t) ", k: " (weak-table-ref misc k))
(weak-table-delete! misc 42)
(weak-table-delete! misc 'absent)
(show "  42 deleted: " (weak-table-ref misc 42 'deleted) ", "
      (weak-table-count misc) " entries")
(show "  weak-table? " (weak-table? misc) " " (weak-table? '()))

;; ------------------------------------------------------------------------
;; 6. Many entries (the bucket vector grows, dead entries are pruned).

(define n 2000)
(define values (make-vector n #f))
(define keys (make-vector n #f))
(define big-v (make-weak-table 'value))
(define big-k (make-weak-table 'key))
(for-each (lambda (i)
            (let ((v (list 'v i)) (k (list 'k i)))
              (vector-set! values i v)
              (vector-set! keys i k)
              (weak-table-set! big-v i v)
              (weak-table-set! big-k k (cons i k))))
          (iota n))
(gc)
(show "many: " (weak-table-count big-v) " weak values, " (weak-table-count big-k)
      " ephemerons")
(for-each (lambda (i)
            (if (= 0 (remainder i 3))
                (begin (vector-set! values i #f) (vector-set! keys i #f))))
          (iota n))
(gc)
(define (count-found)
  (let loop ((i 0) (found 0))
    (if (= i n)
        found
        (loop (+ i 1)
              (if (and (vector-ref values i)
                       (eq? (weak-table-ref big-v i) (vector-ref values i))
                       (= i (car (weak-table-ref big-k (vector-ref keys i)))))
                  (+ found 1)
                  found)))))
(show "every third dropped: " (weak-table-count big-v) " weak values, "
      (weak-table-count big-k) " ephemerons, " (count-found) " found by lookup")
;; New entries after pruning.
(for-each (lambda (i) (weak-table-set! big-v (+ n i) (vector-ref values (+ 1 (* 3 i)))))
          (iota 500))
(show "500 added: " (weak-table-count big-v) " weak values")
(set! values #f)
(set! keys #f)
(gc)
(show "all dropped: " (weak-table-count big-v) " weak values, " (weak-table-count big-k)
      " ephemerons")

;; ------------------------------------------------------------------------
;; 7. Threads share a table: two threads insert and delete concurrently,
;; and each returns the keys it kept.

(define shared (make-weak-table 'key))
(define (worker tag)
  (lambda ()
    (let loop ((i 0) (kept '()))
      (if (= i 600)
          kept
          (let ((k (list tag i)))
            (weak-table-set! shared k (list 'value k))
            (cond ((= 0 (remainder i 3)) (weak-table-delete! shared k) (loop (+ i 1) kept))
                  ((= 1 (remainder i 3)) (loop (+ i 1) (cons k kept)))
                  (else (loop (+ i 1) kept))))))))
(define t1 (spawn (worker 'one)))
(define t2 (spawn (worker 'two)))
(define kept-keys (append (join t1) (join t2)))
(gc)
(show "two threads: " (length kept-keys) " keys kept, " (weak-table-count shared)
      " entries, all found: "
      (let loop ((l kept-keys))
        (cond ((null? l) #t)
              ((eq? (car l) (cadr (weak-table-ref shared (car l)))) (loop (cdr l)))
              (else #f))))
(set! kept-keys #f)
(gc)
(show "  keys dropped: " (weak-table-count shared) " entries")
