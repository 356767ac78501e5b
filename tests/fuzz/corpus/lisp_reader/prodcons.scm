;; prodcons.scm: a producer and a consumer on two threads of their own,
;; connected by a channel.  Each job is a small structure (a list holding a
;; string and a vector) made by the producer and checked and dropped by the
;; consumer, so both threads allocate and the collector runs while values
;; cross from one thread to the other.

(define n 30000)
(define jobs (make-channel))

(define (make-job i)
  (list i (* i i) (number->string i) (make-vector 3 i)))

(define (job-ok? job)
  (let ((i (car job)))
    (and (= (cadr job) (* i i))
         (string=? (caddr job) (number->string i))
         (= (vector-ref (list-ref job 3) 2) i))))

;; Sends jobs 1..n, then the symbol done; returns how many it sent.
(define producer
  (spawn (lambda ()
           (let loop ((i 1))
             (if (<= i n)
                 (begin (channel-send! jobs (make-job i))
                        (loop (+ i 1)))
                 (begin (channel-send! jobs 'done)
                        n))))))

;; Receives until done; returns (jobs sum-of-squares digits bad-jobs).
(define consumer
  (spawn (lambda ()
           (let loop ((count 0) (squares 0) (digits 0) (bad 0))
             (let ((job (channel-receive jobs)))
               (if (eq? job 'done)
                   (list count squares digits bad)
                   (loop (+ count 1)
                         (+ squares (cadr job))
                         (+ digits (string-length (caddr job)))
                         (if (job-ok? job) bad (+ bad 1)))))))))

(display "producer sent ")
(display (join producer))
(display " jobs")
(newline)
(display "consumer got (jobs sum-of-squares digits bad-jobs): ")
(display (join consumer))
(newline)
