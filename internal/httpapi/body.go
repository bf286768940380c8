package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Request bodies, for every plane: read within a limit (readBody) and
// decoded strictly (decodeBody).

// decodeBody is the one JSON body decoder of every plane (data,
// management, Graph): it refuses duplicate object keys and nesting deeper
// than MaxJSONDepth (strictjson.go), malformed JSON and trailing data, and
// returns a public message describing the problem, or "" when v was
// decoded. An empty body leaves v as it is.
func decodeBody(body []byte, v any) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	if err := checkJSONShape(body, v); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return ae.Message
		}
		return "The request body is malformed."
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return "The request body is not valid JSON for this operation: " + jsonProblem(err)
	}
	if dec.More() {
		return "The request body has data after the JSON value."
	}
	return ""
}

// jsonProblem describes a decoding error without echoing request content.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	return "malformed body"
}

// readBody reads r's body up to limit+1 bytes (so that a caller sees a
// body over limit), as io.ReadAll(io.LimitReader(r.Body, limit+1)) does,
// but without a buffer for a request without a body (GET, DELETE: the
// server gives them http.NoBody) and in one buffer sized by Content-Length
// when the client sent one within limit, instead of growing from 512
// bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	size := int64(512)
	if r.ContentLength > 0 && r.ContentLength <= limit {
		size = r.ContentLength + 1 // room for the read that finds EOF
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r.Body, limit+1)
	for {
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
	}
}
