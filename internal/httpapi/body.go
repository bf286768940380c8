package httpapi

import (
	"bytes"
	"io"
	"net/http"

	"github.com/mhsm/mhsm/internal/strictjson"
)

// Request bodies, for every plane: read within a limit (readBody) and
// decoded strictly (decodeBody).

// decodeBody is the one JSON body decoder of every plane (data,
// management, Graph): strictjson.Decode, which refuses duplicate object
// keys, nesting deeper than strictjson.MaxDepth, malformed JSON and
// trailing data. It returns a public message describing the problem, or
// "" when v was decoded. An empty body leaves v as it is.
func decodeBody(body []byte, v any) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	if err := strictjson.Decode(body, v); err != nil {
		return err.Error()
	}
	return ""
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
