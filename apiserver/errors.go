package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// apiError is an error the API answers with: a metav1.Status with a code.
type apiError struct {
	status metav1.Status
}

func (e *apiError) Error() string { return e.status.Message }

// newStatusError returns an apiError with a Failure Status.
func newStatusError(code int, reason metav1.StatusReason, msg string) *apiError {
	return &apiError{status: metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code),
	}}
}

func errNotFoundPath(path string) *apiError {
	return newStatusError(http.StatusNotFound, metav1.StatusReasonNotFound,
		fmt.Sprintf("the server could not find the requested resource (path %q)", path))
}

func errBadRequest(format string, args ...any) *apiError {
	return newStatusError(http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf(format, args...))
}

func errMethodNotAllowed(format string, args ...any) *apiError {
	return newStatusError(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, fmt.Sprintf(format, args...))
}

func errForbidden(format string, args ...any) *apiError {
	return newStatusError(http.StatusForbidden, metav1.StatusReasonForbidden, fmt.Sprintf(format, args...))
}

func errGone(format string, args ...any) *apiError {
	return newStatusError(http.StatusGone, metav1.StatusReasonExpired, fmt.Sprintf(format, args...))
}

func errInternal(err error) *apiError {
	return newStatusError(http.StatusInternalServerError, metav1.StatusReasonInternalError,
		fmt.Sprintf("internal error: %v", err))
}

// objectError maps a store error about one object onto an apiError whose
// message names the object the way kubectl users expect.
func objectError(t target, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var e *apiError
	switch {
	case errors.Is(err, api.ErrNotFound):
		e = newStatusError(http.StatusNotFound, metav1.StatusReasonNotFound, notFoundMessage(t))
	case errors.Is(err, api.ErrExists):
		e = newStatusError(http.StatusConflict, metav1.StatusReasonAlreadyExists,
			fmt.Sprintf("%s %q already exists%s", t.r.Name, t.name, inNamespace(t)))
	case errors.Is(err, api.ErrConflict):
		e = newStatusError(http.StatusConflict, metav1.StatusReasonConflict,
			fmt.Sprintf("operation cannot be fulfilled on %s %q%s: the object has been modified; please apply your changes to the latest version and try again",
				t.r.Name, t.name, inNamespace(t)))
	case errors.Is(err, api.ErrCompacted):
		e = errGone("the resourceVersion is too old: %v; list again to get a current one", err)
	case errors.Is(err, api.ErrInvalid):
		e = newStatusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, err.Error())
	case errors.Is(err, api.ErrTooLarge):
		e = newStatusError(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, err.Error())
	default:
		return errInternal(err)
	}
	if t.name != "" {
		e.status.Details = &metav1.StatusDetails{Name: t.name, Group: t.r.Group, Kind: t.r.Name}
	}
	return e
}

func notFoundMessage(t target) string {
	if t.name == "" {
		return fmt.Sprintf("%s not found%s", t.r.Name, inNamespace(t))
	}
	return fmt.Sprintf("%s %q not found%s", t.r.Name, t.name, inNamespace(t))
}

func inNamespace(t target) string {
	if t.r.Namespaced && t.namespace != "" {
		return fmt.Sprintf(" in namespace %q", t.namespace)
	}
	return ""
}
