package engine

// DefaultBackend is the backend a zero Config selects.
const DefaultBackend = BackendEpoll
