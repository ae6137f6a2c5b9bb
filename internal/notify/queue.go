package notify

import "sync"

// job is one event bound for one sink. id identifies the delivery to the
// receiver and stays the same across retries.
type job struct {
	ev Event
	id string
}

// queue is one sink's bounded FIFO. Producers (Notify) never block: when
// full, the oldest job is dropped, since the newest says most about the
// current state of a deploy.
type queue struct {
	max int

	mu     sync.Mutex // guards items and closed
	items  []job
	closed bool

	// wake holds a token when the worker may have something to do (a new
	// job, or the queue closed). Capacity 1, sends never block.
	wake chan struct{}
}

func newQueue(max int) *queue {
	return &queue{max: max, wake: make(chan struct{}, 1)}
}

// push adds j. It reports whether the queue was closed (j not queued) and
// whether an older job was dropped to make room.
func (q *queue) push(j job) (accepted, droppedOldest bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false, false
	}
	if len(q.items) >= q.max {
		q.items[0] = job{} // let the dropped event be collected
		q.items = q.items[1:]
		droppedOldest = true
	}
	q.items = append(q.items, j)
	q.mu.Unlock()
	q.signal()
	return true, droppedOldest
}

// pop takes the oldest job. When there is none, closed says whether more
// can ever come.
func (q *queue) pop() (j job, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return job{}, false, q.closed
	}
	j = q.items[0]
	q.items[0] = job{}
	q.items = q.items[1:]
	return j, true, false
}

// close stops accepting jobs; queued ones are still delivered.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
