package store_test

import (
	"testing"

	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return store.NewMemory() })
}
