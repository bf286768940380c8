package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testAccount = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct1"

// collect verifies every delivered source under f and returns the record
// ids found (after dedup) with how often each appears.
func collect(t *testing.T, f Files, wantSources int) (map[string]int, *Report) {
	t.Helper()
	ctx := context.Background()
	srcs, err := FindSources(ctx, f, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != wantSources {
		t.Fatalf("%d sources, want %d", len(srcs), wantSources)
	}
	ids := map[string]int{}
	var rep *Report
	for _, s := range srcs {
		if !s.Delivered || s.HSM != "dev" {
			t.Fatalf("source %+v", s)
		}
		if rep, err = s.Verify(ctx, testPub(t, "dev")); err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("delivered log does not verify: %+v", rep)
		}
		if err := s.Query(ctx, &Filter{}, func(r *Record) error { ids[r.ID]++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return ids, rep
}

func TestDeliveryLocalSurvivesRestart(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	ctx := context.Background()
	open := func() (*Log, *Delivery) {
		l := openTest(t, dir, nil)
		d, err := NewDelivery(l, DeliveryOptions{StorageRoot: root})
		if err != nil {
			t.Fatal(err)
		}
		return l, d
	}
	l, d := open()
	record(t, l, "dev", 0, 3) // before the setting: not delivered
	if err := d.Configure("dev", "toStorage", testAccount); err != nil {
		t.Fatal(err)
	}
	if err := d.Configure("dev", "toStorage", testAccount); err != nil { // idempotent
		t.Fatal(err)
	}
	record(t, l, "dev", 3, 10)
	if err := l.Checkpoint("dev"); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l.Close() // final checkpoint is written but not yet delivered

	l, d = open()
	if got := d.Settings("dev"); len(got) != 1 || got[0].Destination != "acct1" {
		t.Fatalf("settings after restart: %+v", got)
	}
	record(t, l, "dev", 13, 5)
	if err := l.Checkpoint("dev"); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ids, _ := collect(t, DirFiles(filepath.Join(root, "acct1")), 1)
	if len(ids) != 15 {
		t.Fatalf("%d records delivered, want 15 (3..17)", len(ids))
	}
	for i := 3; i < 18; i++ {
		if ids[event("dev", i).RequestID] != 1 {
			t.Errorf("record %d delivered %d times", i, ids[event("dev", i).RequestID])
		}
	}

	// A crash after an append but before the cursor was saved repeats
	// lines: simulate by rewinding the cursor. Readers drop the repeats.
	d.mu.Lock()
	st := d.st
	st.Cursors = map[string]cursor{"dev/acct1": {Seq: st.Cursors["dev/acct1"].Seq - 4, Blob: st.Cursors["dev/acct1"].Blob}}
	if err := d.saveLocked(st); err != nil {
		t.Fatal(err)
	}
	d.mu.Unlock()
	d.readers = map[string]*chainReader{}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ids, rep := collect(t, DirFiles(filepath.Join(root, "acct1")), 1)
	if len(ids) != 15 || rep.Duplicates != 4 {
		t.Fatalf("after re-delivery: %d ids, %d duplicates", len(ids), rep.Duplicates)
	}

	if err := d.Remove("dev", "toStorage"); err != nil {
		t.Fatal(err)
	}
	record(t, l, "dev", 18, 2)
	_ = d.Flush(ctx)
	if ids, _ := collect(t, DirFiles(filepath.Join(root, "acct1")), 1); len(ids) != 15 {
		t.Fatal("records delivered after the setting was removed")
	}
}

func TestDeliveryDestinationsAreConfigOnly(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	d, err := NewDelivery(l, DeliveryOptions{Destinations: map[string]Destination{"archive": LocalDir(t.TempDir())}})
	if err != nil {
		t.Fatal(err)
	}
	for _, acct := range []string{"other", "../../etc", "/tmp/x", "", "a/storageAccounts/../../x"} {
		if err := d.Configure("dev", "s", acct); !errors.Is(err, ErrUnknownDestination) {
			t.Errorf("Configure(%q) = %v, want ErrUnknownDestination", acct, err)
		}
	}
	if err := d.Configure("dev", "s", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/ARCHIVE"); err != nil {
		t.Fatal(err)
	}
	if err := d.Configure("../x", "s", "archive"); err == nil {
		t.Error("bad HSM name accepted")
	}
	for _, spec := range []string{"x=local:relative/dir", "Bad=local:/tmp", "x=ftp:/tmp", "x=azblob:notaurl", "x=azblob:https://a.blob.core.windows.net/c;account-key-env=UNSET_VAR_FOR_TEST"} {
		if _, _, err := ParseDestination(spec, os.Getenv); err == nil {
			t.Errorf("ParseDestination(%q) accepted", spec)
		}
	}
	if n, dst, err := ParseDestination("archive=local:/var/log/mhsm", os.Getenv); err != nil || n != "archive" || dst.String() != "local:/var/log/mhsm" {
		t.Errorf("ParseDestination: %v %v %v", n, dst, err)
	}
}

func TestDeliveryHourBlobs(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	var mu sync.Mutex
	now := time.Date(2026, 11, 26, 9, 58, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := openTest(t, dir, func(o *Options) { o.Now = clock })
	d, err := NewDelivery(l, DeliveryOptions{StorageRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Configure("dev", "s", "acct1"); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		e := event("dev", i)
		e.Time = now.Add(time.Duration(i) * time.Minute)
		if i == 4 {
			e.Time = now // a slow request that started in the earlier hour
		}
		if err := l.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Checkpoint("dev"); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	names, _ := DirFiles(filepath.Join(root, "acct1")).List(context.Background())
	if len(names) != 2 || !strings.Contains(names[0], "/h=09/m=00/PT1H.json") || !strings.Contains(names[1], "/h=10/m=00/PT1H.json") {
		t.Fatalf("blobs %v", names)
	}
	if !strings.HasPrefix(names[0], DeliveryContainer+"/resourceId=/SUBSCRIPTIONS/") {
		t.Fatalf("layout %s", names[0])
	}
	if ids, _ := collect(t, DirFiles(filepath.Join(root, "acct1")), 1); len(ids) != 6 {
		t.Fatalf("%d ids", len(ids))
	}
}

// TestDeliveryAzurite delivers to blob storage on Azurite and reads the
// logs back from the container. scripts/test.sh starts Azurite and sets
// MHSM_TEST_AZURITE (the account URL, path style) and
// MHSM_REQUIRE_AZURITE=1, which turns a missing emulator into a failure.
func TestDeliveryAzurite(t *testing.T) {
	acct := os.Getenv("MHSM_TEST_AZURITE")
	if acct == "" {
		if os.Getenv("MHSM_REQUIRE_AZURITE") != "" {
			t.Fatal("MHSM_REQUIRE_AZURITE is set but MHSM_TEST_AZURITE is not")
		}
		t.Skip("MHSM_TEST_AZURITE not set (scripts/test.sh starts Azurite)")
	}
	// The emulator's well-known development account key (public).
	t.Setenv("MHSM_TEST_AZURITE_KEY", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
	container := "audit" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "") + time.Now().Format("150405000")
	container = strings.ReplaceAll(container, "_", "")
	name, dst, err := ParseDestination("azurite=azblob:"+strings.TrimRight(acct, "/")+"/"+container+";account-key-env=MHSM_TEST_AZURITE_KEY", os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	l := openTest(t, t.TempDir(), nil)
	d, err := NewDelivery(l, DeliveryOptions{Destinations: map[string]Destination{name: dst}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Configure("dev", "s", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/azurite"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	record(t, l, "dev", 0, 20)
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	record(t, l, "dev", 20, 20)
	if err := l.Checkpoint("dev"); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ids, _ := collect(t, BlobFiles{B: dst.(*Blob)}, 1)
	if len(ids) != 40 {
		t.Fatalf("%d records read back from Azurite, want 40", len(ids))
	}
}
