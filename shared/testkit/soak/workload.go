package soak

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// appSpec is one app of the soak and the platforms its events come from.
type appSpec struct {
	Name      string
	ID        string
	Platforms []platformSpec
	Weight    int // relative share of the events
}

type platformSpec struct {
	Name string // integration.Platforms value: ios, android, web, roku
	ID   string // the app platform id events carry
}

// feedSpec is one integration (and its mParticle input feed) of the soak.
type feedSpec struct {
	Name         string
	App          string // appSpec.Name
	Platform     string // platformSpec.Name the feed acts as; for ScopePlatform also its source
	AllPlatforms bool   // the legacy "app and all platforms" scope
	Types        []event.Type
	Enabled      bool
	Pod          string
	CustomerID   integration.CustomerIDSource

	// Set when provisioned.
	IntegrationID string
	Key, Secret   string
}

// receives is the soak's own statement of the routing rule (an enabled integration of the
// event's app receives the types it selects, from its own app platform unless it is a legacy
// all-platforms one), written independently of integration.Route so a routing bug in the
// forwarder shows as a missing or unexpected delivery rather than being mirrored into the
// expectation.
func (f *feedSpec) receives(app *appSpec, platformID string, typ event.Type) bool {
	if !f.Enabled || f.App != app.Name || !slices.Contains(f.Types, typ) {
		return false
	}
	if f.AllPlatforms {
		return true
	}
	for _, p := range app.Platforms {
		if p.Name == f.Platform {
			return p.ID == platformID
		}
	}
	return false
}

var userTypes = func() []event.Type {
	var out []event.Type
	for _, t := range event.AllTypes {
		if t.IsUser() {
			out = append(out, t)
		}
	}
	return out
}()

// topology returns the soak's apps and feeds: three apps with feeds and one without (its
// events must be acknowledged without a delivery); six enabled feeds across four pods, two
// of them legacy all-platforms feeds (one taking a subset of the types), one limited to user
// events; and one disabled feed that must receive nothing. Platforms without a feed of their
// own (app-a's web) reach only the legacy feeds.
func topology(r *rand.Rand) ([]*appSpec, []*feedSpec) {
	id := func() string { return newUUID(r) }
	apps := []*appSpec{
		{Name: "app-a", ID: id(), Weight: 40, Platforms: []platformSpec{{"ios", id()}, {"android", id()}, {"web", id()}}},
		{Name: "app-b", ID: id(), Weight: 30, Platforms: []platformSpec{{"ios", id()}, {"roku", id()}}},
		{Name: "app-c", ID: id(), Weight: 25, Platforms: []platformSpec{{"android", id()}, {"web", id()}}},
		{Name: "app-d", ID: id(), Weight: 5, Platforms: []platformSpec{{"ios", id()}}},
	}
	all := event.AllTypes
	feeds := []*feedSpec{
		{Name: "a-ios", App: "app-a", Platform: "ios", Types: all, Enabled: true, Pod: mparticle.PodUS1, CustomerID: integration.CustomerIDExternal},
		{Name: "a-android", App: "app-a", Platform: "android", Types: all, Enabled: true, Pod: mparticle.PodUS2, CustomerID: integration.CustomerIDNamiUser},
		{Name: "a-legacy", App: "app-a", Platform: "ios", AllPlatforms: true, Enabled: true, Pod: mparticle.PodEU1, CustomerID: integration.CustomerIDNamiUser,
			Types: []event.Type{event.SubscriptionPurchased, event.SubscriptionRenewed, event.SubscriptionCancelled, event.SubscriptionExpired, event.DeviceTransaction}},
		{Name: "b-ios", App: "app-b", Platform: "ios", Types: all, Enabled: true, Pod: mparticle.PodAU1, CustomerID: integration.CustomerIDExternal},
		{Name: "b-roku", App: "app-b", Platform: "roku", Types: userTypes, Enabled: true, Pod: mparticle.PodUS1, CustomerID: integration.CustomerIDExternal},
		{Name: "b-disabled", App: "app-b", Platform: "ios", AllPlatforms: true, Types: all, Enabled: false, Pod: mparticle.PodUS1, CustomerID: integration.CustomerIDExternal},
		{Name: "c-legacy", App: "app-c", Platform: "android", AllPlatforms: true, Types: all, Enabled: true, Pod: mparticle.PodUS1, CustomerID: integration.CustomerIDExternal},
	}
	return apps, feeds
}

func (f *feedSpec) integration(app *appSpec) integration.Integration {
	in := integration.Integration{
		Name: "soak " + f.Name, Enabled: f.Enabled, Platform: f.Platform, Pod: f.Pod,
		CustomerIDSource: f.CustomerID, Events: f.Types, AppID: app.ID,
	}
	if f.AllPlatforms {
		in.Scope = integration.ScopeAllPlatforms
	} else {
		in.Scope = integration.ScopePlatform
		for _, p := range app.Platforms {
			if p.Name == f.Platform {
				in.AppPlatformID = p.ID
			}
		}
	}
	return in
}

// newUUID draws a version 4 UUID from r, so a seed fixes every id of a run.
func newUUID(r *rand.Rand) string {
	var u uuid.UUID
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			u[i+j] = byte(v >> (8 * j))
		}
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u.String()
}

// message is one generated SQS message body and what it should lead to.
type message struct {
	Body    string
	Valid   bool
	EventID string
	App     *appSpec
	Type    event.Type
	// Feeds are the feeds the event must reach (valid messages only).
	Feeds []*feedSpec
}

// generator produces the soak's messages from a seed.
type generator struct {
	r           *rand.Rand
	apps        []*appSpec
	feeds       []*feedSpec
	invalidRate float64
	base        time.Time
	n           int
}

func (g *generator) next() (message, error) {
	g.n++
	app := g.pickApp()
	plat := app.Platforms[g.r.IntN(len(app.Platforms))]
	typ := event.AllTypes[g.r.IntN(len(event.AllTypes))]
	ev := g.event(app, plat, typ)
	body, err := json.Marshal(ev)
	if err != nil {
		return message{}, fmt.Errorf("soak: encode event: %w", err)
	}
	// The forwarder acknowledges, without a dead letter, an invalid event of an app with no
	// enabled integration: only events of apps with one are spoiled, so each is expected there.
	if g.r.Float64() < g.invalidRate && g.served(app) {
		bad := g.spoil(body)
		// The generator must not drift from the decoder: an "invalid" body that decodes
		// would be counted wrongly, so refuse to run rather than report nonsense.
		if _, err := event.Decode([]byte(bad)); err == nil {
			return message{}, fmt.Errorf("soak: generated invalid body decodes: %s", bad)
		}
		return message{Body: bad}, nil
	}
	if _, err := event.Decode(body); err != nil {
		return message{}, fmt.Errorf("soak: generated event does not decode: %w", err)
	}
	m := message{Body: string(body), Valid: true, EventID: ev.ID, App: app, Type: typ}
	for _, f := range g.feeds {
		if f.receives(app, plat.ID, typ) {
			m.Feeds = append(m.Feeds, f)
		}
	}
	return m, nil
}

// served reports whether app has an enabled feed.
func (g *generator) served(app *appSpec) bool {
	return slices.ContainsFunc(g.feeds, func(f *feedSpec) bool { return f.Enabled && f.App == app.Name })
}

func (g *generator) pickApp() *appSpec {
	total := 0
	for _, a := range g.apps {
		total += a.Weight
	}
	x := g.r.IntN(total)
	for _, a := range g.apps {
		if x < a.Weight {
			return a
		}
		x -= a.Weight
	}
	return g.apps[len(g.apps)-1]
}

// spoil turns a valid body into one of several kinds of invalid input, each unique (so the
// dead-letter queue can be matched against what was injected).
func (g *generator) spoil(body []byte) string {
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	kind := g.r.IntN(6)
	switch kind {
	case 0:
		return fmt.Sprintf("not json %d {", g.n)
	case 1:
		m["type"] = "user.subscription.exploded"
	case 2:
		delete(m, "app_id")
	case 3:
		// Any id that fits is valid, as routing and deduplication only need it to exist.
		m["id"] = fmt.Sprintf("%s-%d", strings.Repeat("x", event.MaxIDLen), g.n)
	case 4:
		m["occurred_at"] = "1970-01-01T00:00:00Z"
	case 5:
		return fmt.Sprintf("[%d]", g.n)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (g *generator) event(app *appSpec, plat platformSpec, typ event.Type) event.Event {
	r := g.r
	occurred := g.base.Add(time.Duration(g.n) * time.Second).Add(time.Duration(r.IntN(1000)) * time.Millisecond)
	ev := event.Event{
		ID: newUUID(r), Type: typ, OccurredAt: occurred.UTC(),
		AppID: app.ID, AppPlatformID: plat.ID, Platform: plat.Name, Store: storeOf(plat.Name),
	}
	if r.IntN(10) == 0 {
		ev.AppEnv = event.AppEnvBetaTesting
	}
	user := &event.User{
		ID:                 newUUID(r),
		ActiveEntitlements: []string{"premium"},
		ActiveSKUs:         []string{"premium_monthly"},
		InTrialPeriod:      new(typ == event.TrialStarted),
		InGracePeriod:      new(typ == event.SubscriptionInGracePeriod),
	}
	if r.IntN(4) != 0 { // some users have no external id: the batch then has no customer_id
		user.ExternalID = fmt.Sprintf("acct_%d", r.IntN(1_000_000))
	}
	device := &event.Device{
		ID: newUUID(r), OSVersion: "17.4.1", Model: "Model-" + plat.Name, Locale: "en_US",
		AppVersion: fmt.Sprintf("4.%d.0", r.IntN(20)), Country: "US", IP: "203.0.113.42",
	}
	switch {
	case typ == event.DeviceImpression:
		ev.Device, ev.User = device, user
		ev.Impression = &event.Impression{ID: newUUID(r), PaywallID: newUUID(r), DeveloperPaywallID: "onboarding_v3",
			Name: "Onboarding", ControllerName: "OnboardingViewController", CTAType: "paywall", Initiator: event.InitiatorNamiML}
	case typ == event.DeviceTransaction:
		ev.Device, ev.User = device, user
		qty := 1
		ev.Transaction = &event.Transaction{ID: fmt.Sprint(r.Int64N(1e15)), OriginalTransactionID: fmt.Sprint(r.Int64N(1e15)),
			SKURefID: "premium_monthly", SKUStoreID: "com.example.premium.monthly", Price: "9.99", Currency: "USD",
			Quantity: &qty, PurchaseEnv: event.PurchaseEnvProduction, Source: event.SourceNamiTriggered}
	default:
		ev.User = user
		if r.IntN(2) == 0 {
			ev.Device = device
		}
		exp := occurred.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
		ev.Subscription = &event.Subscription{SKURefID: "premium_monthly", EntitlementRefID: "premium",
			OriginalTransactionID: fmt.Sprint(r.Int64N(1e15)), PurchaseEnv: event.PurchaseEnvProduction,
			ExpiresAt: &exp, Price: "9.99", Currency: "USD"}
	}
	return ev
}

func storeOf(platform string) string {
	switch platform {
	case "ios":
		return "apple"
	case "android":
		return "google"
	case "roku":
		return "roku"
	}
	return "web"
}
