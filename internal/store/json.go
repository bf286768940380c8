package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// JSON records. Every service stores its records as JSON through these
// three helpers, with one not-found contract: GetJSON returns exactly
// ErrNotFound (unwrapped, so == works too) when the key is absent, and
// a decode error names the key but never the value.

// GetJSON decodes the value of key into v; ErrNotFound when key is absent.
func GetJSON(tx Tx, key string, v any) error {
	b, err := tx.Get(key)
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: decode %s: %w", key, err)
	}
	return nil
}

// PutJSON sets key to the JSON encoding of v.
func PutJSON(tx Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", key, err)
	}
	return tx.Put(key, b)
}

// ListJSON decodes every value under prefix, in key order.
func ListJSON[T any](tx Tx, prefix string) ([]T, error) {
	kvs, err := tx.List(prefix, "", 0)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}
