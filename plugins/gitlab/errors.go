package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/plugins"
)

// APIError is a final (not retryable) failure answered by GitLab: a 4xx
// other than 429. Its text reads like
// "gitlab: POST /projects/5/merge_requests/1/notes: 403 Forbidden: message".
// It never contains the token.
type APIError struct {
	Method  string
	Path    string // API path below /api/v4
	Status  int
	Message string // GitLab's message, "" when it sent none
}

func (e *APIError) Error() string {
	return fmt.Sprintf("gitlab: %s %s: %s", e.Method, e.Path, statusText(e.Status, e.Message))
}

// classify turns a failed call into hookgate's two kinds of failure:
//
//   - retryable (*plugins.RetryError): 5xx, 429 (After from Retry-After, as
//     seconds or an HTTP date, else RateLimit-Reset), timeouts, cancelled
//     contexts and network errors;
//   - final: other 4xx (*APIError), an answer that could not be read (too
//     large, not JSON), and errors building the request.
func classify(method, path string, status int, h http.Header, msg string, err error, now time.Time) error {
	switch {
	case status == http.StatusTooManyRequests:
		return plugins.Retry(fmt.Sprintf("gitlab: %s %s: %s", method, path, statusText(status, msg)), retryAfter(h, now))
	case status >= 500:
		return plugins.Retry(fmt.Sprintf("gitlab: %s %s: %s", method, path, statusText(status, msg)), 0)
	case status >= 400:
		return &APIError{Method: method, Path: path, Status: status, Message: msg}
	case status != 0:
		return fmt.Errorf("gitlab: %s %s: %d: reading answer: %w", method, path, status, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return plugins.Retry(fmt.Sprintf("gitlab: %s %s: timeout", method, path), 0)
	}
	if errors.Is(err, context.Canceled) {
		return plugins.Retry(fmt.Sprintf("gitlab: %s %s: canceled", method, path), 0)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// ue's text repeats the full URL; its cause is enough.
		return plugins.Retry(fmt.Sprintf("gitlab: %s %s: %v", method, path, ue.Err), 0)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return plugins.Retry(fmt.Sprintf("gitlab: %s %s: %v", method, path, err), 0)
	}
	return fmt.Errorf("gitlab: %s %s: %w", method, path, err)
}

// statusText renders "403 Forbidden: message", dropping the status GitLab
// often repeats at the start of its message ("404 Project Not Found") and a
// message that only repeats the status text.
func statusText(status int, msg string) string {
	s := strconv.Itoa(status) + " " + http.StatusText(status)
	msg = strings.TrimPrefix(msg, strconv.Itoa(status)+" ")
	if msg == "" || strings.EqualFold(msg, http.StatusText(status)) {
		return s
	}
	return s + ": " + msg
}

// retryAfter reads how long GitLab asks to wait: Retry-After in seconds or
// as an HTTP date, else the RateLimit-Reset Unix time; 0 when absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			if n < 0 {
				return 0
			}
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return max(time.Unix(n, 0).Sub(now), 0)
		}
	}
	return 0
}

// maxMessage caps a message taken from an error answer.
const maxMessage = 300

// errorMessage extracts GitLab's message from an error body:
// {"message": "..."}, {"message": {"field": ["..."]}}, {"error": "..."}, or
// the plain text, shortened.
func errorMessage(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	var v struct {
		Message any    `json:"message"`
		Error   string `json:"error"`
		Desc    string `json:"error_description"`
	}
	var msg string
	if err := json.Unmarshal(body, &v); err == nil {
		switch {
		case v.Message != nil:
			msg = flatten(v.Message)
		case v.Error != "" && v.Desc != "":
			msg = v.Error + ": " + v.Desc
		default:
			msg = v.Error
		}
	} else {
		msg = strings.Join(strings.Fields(string(body)), " ")
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	return msg
}

// flatten renders a JSON message value: strings as is, lists joined with
// ", ", objects as "key: value" sorted by key and joined with "; ".
func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			parts = append(parts, flatten(e))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+flatten(v[k]))
		}
		return strings.Join(parts, "; ")
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
