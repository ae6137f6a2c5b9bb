package deploy

// Interrupt cancels every running deployment and engine goroutine without
// waiting (Close waits). The daemon calls it first when it stops, so that
// deployments record their end and the event streams following them close
// while in-flight requests still finish; live and warm instances are not
// touched. Safe to call more than once, and before Close.
func (e *Engine) Interrupt() { e.cancel() }
