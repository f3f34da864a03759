// Package messages holds the typed messages that OpenGSLB's actors exchange.
//
// Each receiving actor has a sealed interface (an unexported marker method)
// so a mailbox accepts only what its actor understands, and the compiler
// shows who may send what. Messages are plain values: once sent they are
// never modified, by the sender or the receiver.
//
// Messages carry *config.Config by pointer: the config package is a leaf of
// plain data with no behaviour that reaches back into actors or messages,
// and a loaded Config is immutable, so sharing it is safe and avoids copying
// every domain and backend on each reload.
package messages
