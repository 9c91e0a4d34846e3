package controlcenter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
)

var errInjected = errors.New("injected failure")

// memStore is a Store in memory, with the port's errors. fail makes the named method
// fail; before runs (once) at the start of the named method, to let a competitor in.
type memStore struct {
	mu       sync.Mutex
	items    map[string]integration.Integration
	cleanups map[string]bool
	fail     map[string]error
	before   map[string]func()
	calls    []string
}

func newMemStore() *memStore {
	return &memStore{items: map[string]integration.Integration{}, cleanups: map[string]bool{},
		fail: map[string]error{}, before: map[string]func(){}}
}

func memKey(appID, id string) string { return appID + "/" + id }

// enter records a call, runs its hook and returns its injected error, if any.
func (m *memStore) enter(op string) error {
	m.mu.Lock()
	m.calls = append(m.calls, op)
	hook := m.before[op]
	delete(m.before, op)
	err := m.fail[op]
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	return err
}

func (m *memStore) Create(_ context.Context, in *integration.Integration, max int) error {
	if err := m.enter("Create"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey(in.AppID, in.ID)
	if _, ok := m.items[k]; ok {
		return fmt.Errorf("create %s: %w", k, ErrConflict)
	}
	if m.count(in.AppID) >= max {
		return fmt.Errorf("create %s: %w", k, ErrIntegrationLimit)
	}
	m.items[k] = clone(*in)
	return nil
}

func (m *memStore) Count(_ context.Context, appID string) (int, error) {
	if err := m.enter("Count"); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count(appID), nil
}

// count is the app's number of integrations; the caller holds m.mu.
func (m *memStore) count(appID string) int {
	n := 0
	for _, in := range m.items {
		if in.AppID == appID {
			n++
		}
	}
	return n
}

func (m *memStore) CleanupPending(_ context.Context, appID, id string) (bool, error) {
	if err := m.enter("CleanupPending"); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cleanups[memKey(appID, id)], nil
}

func (m *memStore) CleanupDone(_ context.Context, appID, id string) error {
	if err := m.enter("CleanupDone"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cleanups, memKey(appID, id))
	return nil
}

func (m *memStore) Get(_ context.Context, appID, id string) (integration.Integration, error) {
	if err := m.enter("Get"); err != nil {
		return integration.Integration{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.items[memKey(appID, id)]
	if !ok {
		return integration.Integration{}, fmt.Errorf("get %s/%s: %w", appID, id, ErrNotFound)
	}
	return clone(in), nil
}

// List pages by position in the newest-first order; a cursor is "c<index>".
func (m *memStore) List(_ context.Context, appID string, limit int, cursor string) (Page, error) {
	if err := m.enter("List"); err != nil {
		return Page{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []integration.Integration
	for _, in := range m.items {
		if in.AppID == appID {
			all = append(all, clone(in))
		}
	}
	slices.SortFunc(all, func(a, b integration.Integration) int { return strings.Compare(b.ID, a.ID) })
	start := 0
	if cursor != "" {
		if _, err := fmt.Sscanf(cursor, "c%d", &start); err != nil || start < 0 || start > len(all) {
			return Page{}, fmt.Errorf("list: %w", ErrBadCursor)
		}
	}
	end := min(start+limit, len(all))
	p := Page{Items: all[start:end]}
	if end < len(all) {
		p.Next = fmt.Sprintf("c%d", end)
	}
	return p, nil
}

func (m *memStore) Update(_ context.Context, in *integration.Integration, expected int64) error {
	if err := m.enter("Update"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey(in.AppID, in.ID)
	cur, ok := m.items[k]
	switch {
	case !ok:
		return fmt.Errorf("update %s: %w", k, ErrNotFound)
	case cur.Version != expected:
		return fmt.Errorf("update %s: %w", k, ErrPreconditionFailed)
	}
	in.Version = expected + 1
	m.items[k] = clone(*in)
	return nil
}

func (m *memStore) Delete(_ context.Context, appID, id string, expected int64) error {
	if err := m.enter("Delete"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey(appID, id)
	cur, ok := m.items[k]
	switch {
	case !ok:
		return fmt.Errorf("delete %s: %w", k, ErrNotFound)
	case cur.Version != expected:
		return fmt.Errorf("delete %s: %w", k, ErrPreconditionFailed)
	}
	delete(m.items, k)
	m.cleanups[k] = true
	return nil
}

func (m *memStore) item(appID, id string) (integration.Integration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.items[memKey(appID, id)]
	return clone(in), ok
}

func clone(in integration.Integration) integration.Integration {
	in.Events = slices.Clone(in.Events)
	return in
}

// memSecret is one secret: its versions and which one is current.
type memSecret struct {
	versions  map[string]feedcreds.Credentials
	current   string
	scheduled bool
	foreign   bool // not this deployment's: ScheduleDelete refuses it
}

// memSecrets is a Secrets port in memory. Secrets are named "<app>/<id>", which is also
// their id. fail makes the named method fail.
type memSecrets struct {
	mu      sync.Mutex
	secrets map[string]*memSecret
	fail    map[string]error
	calls   []string
	n       int
}

func newMemSecrets() *memSecrets {
	return &memSecrets{secrets: map[string]*memSecret{}, fail: map[string]error{}}
}

func (m *memSecrets) enter(op string) error {
	m.calls = append(m.calls, op)
	return m.fail[op]
}

func (m *memSecrets) version() string { m.n++; return fmt.Sprintf("v%d", m.n) }

func (m *memSecrets) Create(_ context.Context, appID, integrationID string, c feedcreds.Credentials) (SecretRef, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Create"); err != nil {
		return SecretRef{}, err
	}
	name := memKey(appID, integrationID)
	if _, ok := m.secrets[name]; ok {
		return SecretRef{}, errors.New("secret exists")
	}
	v := m.version()
	m.secrets[name] = &memSecret{versions: map[string]feedcreds.Credentials{v: c}, current: v}
	return SecretRef{ID: name, VersionID: v}, nil
}

func (m *memSecrets) Stage(_ context.Context, secretID string, c feedcreds.Credentials) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Stage"); err != nil {
		return "", err
	}
	s, ok := m.secrets[secretID]
	if !ok {
		return "", errors.New("no such secret")
	}
	v := m.version()
	s.versions[v] = c
	return v, nil
}

func (m *memSecrets) Promote(_ context.Context, secretID, versionID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Promote"); err != nil {
		return err
	}
	s, ok := m.secrets[secretID]
	if !ok {
		return errors.New("no such secret")
	}
	if _, ok := s.versions[versionID]; !ok {
		return errors.New("no such version")
	}
	s.current = versionID
	return nil
}

func (m *memSecrets) ScheduleDelete(_ context.Context, appID, integrationID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("ScheduleDelete"); err != nil {
		return err
	}
	if s, ok := m.secrets[memKey(appID, integrationID)]; ok {
		if s.foreign {
			return fmt.Errorf("secret %s: %w", memKey(appID, integrationID), ErrSecretNotOwned)
		}
		s.scheduled = true
	}
	return nil
}

// plant adds a secret that this deployment did not create.
func (m *memSecrets) plant(appID, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secrets[memKey(appID, id)] = &memSecret{versions: map[string]feedcreds.Credentials{}, foreign: true}
}

// written returns every credentials value stored.
func (m *memSecrets) written() []feedcreds.Credentials {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []feedcreds.Credentials
	for _, s := range m.secrets {
		for _, c := range s.versions {
			out = append(out, c)
		}
	}
	return out
}

// value returns the credentials of a secret at version ("" for the current one).
func (m *memSecrets) value(secretID, version string) (feedcreds.Credentials, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.secrets[secretID]
	if !ok {
		return feedcreds.Credentials{}, false
	}
	if version == "" {
		version = s.current
	}
	c, ok := s.versions[version]
	return c, ok
}

func (m *memSecrets) isScheduled(appID, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.secrets[memKey(appID, id)]
	return ok && s.scheduled
}

func (m *memSecrets) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.secrets)
}

// memWindows is a Windows port in memory: counts by app, window start and quota. fail
// makes Take fail.
type memWindows struct {
	mu     sync.Mutex
	counts map[string]int
	fail   error
	calls  int
}

func newMemWindows() *memWindows { return &memWindows{counts: map[string]int{}} }

func (m *memWindows) Take(_ context.Context, appID string, start, _ time.Time, quotas []Quota) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail != nil {
		return "", m.fail
	}
	k := func(q Quota) string { return appID + "|" + start.Format(time.RFC3339Nano) + "|" + q.Name }
	for _, q := range quotas {
		if m.counts[k(q)] >= q.Max {
			return q.Name, nil
		}
	}
	for _, q := range quotas {
		m.counts[k(q)]++
	}
	return "", nil
}

// validStored is a stored integration of the app, as another writer might have made it.
func validStored(appID, id string) integration.Integration {
	return integration.Integration{ID: id, AppID: appID, Name: "other", Scope: integration.ScopePlatform,
		AppPlatformID: "plat", Platform: "ios", Version: 1}
}
