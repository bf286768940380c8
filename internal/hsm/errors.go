package hsm

import (
	"errors"
	"fmt"
)

// Kind classifies an Error; the HTTP edge maps each kind to one status.
type Kind int

// Error kinds.
const (
	KindBadRequest Kind = iota + 1
	KindNotFound
	KindConflict
	KindForbidden // the key's state forbids the operation (disabled, expired)
	KindUnavailable
)

// Error is a use-case error with an Azure error code and a public message
// that is safe to return to the caller.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(format string, a ...any) error {
	return &Error{Kind: KindBadRequest, Code: "BadParameter", Message: fmt.Sprintf(format, a...)}
}

func notFound(code, format string, a ...any) error {
	return &Error{Kind: KindNotFound, Code: code, Message: fmt.Sprintf(format, a...)}
}

func conflict(format string, a ...any) error {
	return &Error{Kind: KindConflict, Code: "Conflict", Message: fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) error {
	return &Error{Kind: KindForbidden, Code: "Forbidden", Message: fmt.Sprintf(format, a...)}
}

// keyNotFound is Managed HSM's KeyNotFound for a missing key (KindNotFound);
// callers match it with AsError, like every *Error.
func keyNotFound(name string) error {
	return notFound("KeyNotFound", "A key with (name/id) %s was not found in this key vault.", name)
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
