package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mhsm/mhsm/internal/store"
)

type rec struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func TestJSONHelpers(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	err := st.Update(ctx, func(tx store.Tx) error {
		for _, r := range []rec{{"b", 2}, {"a", 1}} {
			if err := store.PutJSON(tx, "p/"+r.Name, r); err != nil {
				return err
			}
		}
		return tx.Put("p/zz-bad", []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx store.Tx) error {
		var r rec
		if err := store.GetJSON(tx, "p/a", &r); err != nil || r != (rec{"a", 1}) {
			t.Errorf("GetJSON = %+v, %v", r, err)
		}
		if err := store.GetJSON(tx, "p/none", &r); err != store.ErrNotFound {
			t.Errorf("GetJSON of a missing key = %v, want exactly ErrNotFound", err)
		}
		if err := store.GetJSON(tx, "p/zz-bad", &r); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetJSON of a bad value = %v, want a decode error", err)
		}
		if _, err := store.ListJSON[rec](tx, "p/"); err == nil {
			t.Error("ListJSON decoded a bad value")
		}
		rs, err := store.ListJSON[rec](tx, "p/a")
		if err != nil || len(rs) != 1 || rs[0] != (rec{"a", 1}) {
			t.Errorf("ListJSON = %+v, %v", rs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
