package memqueue

// Used by this package's tests only.

// Depth returns the messages waiting and those delivered but not yet
// acknowledged (SQS's ApproximateNumberOfMessages and ...NotVisible).
func (p *PubSub) Depth(topic string) (waiting, inFlight int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queueLocked(topic)
	return len(q.items), q.inFlight
}
