package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error is a non-2xx answer: Azure's {"error":{"code","message"}} body
// (Graph, data and management planes) or an OAuth error.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("(%s) %s", e.Code, e.Message)
}

// Call sends a JSON request to base+path with a token for resource (the
// base URL's resource: https://<sub>.<domain>[:port]) and decodes a JSON
// answer into out (nil: ignore the body).
func (s *Session) Call(ctx context.Context, resource, method, url string, in, out any) error {
	tok, err := s.Token(ctx, resource)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		msg := e.Error.Message
		if msg == "" {
			msg = strings.TrimSpace(string(b))
		}
		return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: msg}
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Graph calls the Graph host: path is e.g. "/v1.0/users".
func (s *Session) Graph(ctx context.Context, method, path string, in, out any) error {
	base, err := s.Profile.ResourceURL("graph")
	if err != nil {
		return err
	}
	return s.Call(ctx, base, method, base+path, in, out)
}
