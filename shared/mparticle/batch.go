// Package mparticle is a client for the mParticle server-to-server Events API:
// the batch wire model, bulk upload with splitting, retries and response classification.
package mparticle

// Batch is one user's data for one input feed: the unit of POST /v2/events and an element
// of POST /v2/bulkevents. Only the fields this product sends are modelled; wire names follow
// the Events API JSON reference (context, not the OpenAPI file's stale batch_context).
type Batch struct {
	Environment       string           `json:"environment"`
	Events            []Event          `json:"events,omitempty"`
	UserIdentities    *UserIdentities  `json:"user_identities,omitempty"`
	PartnerIdentities Attributes       `json:"partner_identities,omitempty"`
	UserAttributes    UserAttributes   `json:"user_attributes,omitempty"`
	DeviceInfo        *DeviceInfo      `json:"device_info,omitempty"`
	ApplicationInfo   *ApplicationInfo `json:"application_info,omitempty"`
	Context           *Context         `json:"context,omitempty"`
	MPID              int64            `json:"mpid,omitempty"`
	IP                string           `json:"ip,omitempty"`
	SourceRequestID   string           `json:"source_request_id,omitempty"`
}

// Attributes is a JSON object of strings (custom attributes, partner identities) as an
// ordered list rather than a map: the transform builds each batch's members in one
// allocation with the rest of the batch, already in key order, where maps cost several
// allocations, a hash per key and a sort per encoding. Members are written in the order
// given; keys should be distinct.
type Attributes []Attribute

// Attribute is one member of an Attributes object.
type Attribute struct {
	Key, Value string
}

// Get returns the value of key and whether it is present.
func (a Attributes) Get(key string) (string, bool) {
	for i := range a {
		if a[i].Key == key {
			return a[i].Value, true
		}
	}
	return "", false
}

// Map returns the members as a map, for lookups by tests and tools (nil for nil a).
func (a Attributes) Map() map[string]string {
	if a == nil {
		return nil
	}
	m := make(map[string]string, len(a))
	for _, kv := range a {
		m[kv.Key] = kv.Value
	}
	return m
}

// UserAttributes are a batch's user attributes, ordered as Attributes are. This product sends
// strings and lists of strings only, so those are the values modelled.
type UserAttributes []UserAttribute

// UserAttribute is one user attribute: a list of strings when List is not nil (an empty,
// non-nil list is written as []), else the string Value.
type UserAttribute struct {
	Key   string
	Value string
	List  []string
}

// Get returns the attribute named key and whether it is present.
func (a UserAttributes) Get(key string) (UserAttribute, bool) {
	for i := range a {
		if a[i].Key == key {
			return a[i], true
		}
	}
	return UserAttribute{}, false
}

// Map returns the attributes as a map of their values (see Any), for lookups by tests and
// tools (nil for nil a).
func (a UserAttributes) Map() map[string]any {
	if a == nil {
		return nil
	}
	m := make(map[string]any, len(a))
	for _, u := range a {
		m[u.Key] = u.Any()
	}
	return m
}

// Any returns the attribute's value as a string or a []string.
func (u UserAttribute) Any() any {
	if u.List != nil {
		return u.List
	}
	return u.Value
}

// Environment values accepted by the API.
const (
	EnvProduction  = "production"
	EnvDevelopment = "development"
)

// UserIdentities holds the identities this product sets.
type UserIdentities struct {
	CustomerID string `json:"customer_id,omitempty"`
	Email      string `json:"email,omitempty"`
	Other      string `json:"other,omitempty"`
}

// DeviceInfo holds the device fields an act-as feed's outputs need.
type DeviceInfo struct {
	Platform             string `json:"platform,omitempty"`
	IOSIDFV              string `json:"ios_idfv,omitempty"`
	IOSAdvertisingID     string `json:"ios_advertising_id,omitempty"`
	AndroidAdvertisingID string `json:"android_advertising_id,omitempty"`
	AndroidUUID          string `json:"android_uuid,omitempty"`
	OSVersion            string `json:"os_version,omitempty"`
	DeviceModel          string `json:"device_model,omitempty"`
	LocaleLanguage       string `json:"locale_language,omitempty"`
	LocaleCountry        string `json:"locale_country,omitempty"`
}

// ApplicationInfo describes the app that produced the data.
type ApplicationInfo struct {
	ApplicationVersion string `json:"application_version,omitempty"`
	OS                 string `json:"os,omitempty"`
}

// Context carries the batch context (data plan).
type Context struct {
	DataPlan *DataPlan `json:"data_plan,omitempty"`
}

// DataPlan names the data plan a batch is validated against.
type DataPlan struct {
	PlanID      string `json:"plan_id"`
	PlanVersion int    `json:"plan_version,omitempty"`
}

// Event types this product sends.
const (
	EventTypeCustom   = "custom_event"
	EventTypeCommerce = "commerce_event"
)

// Event is one event of a batch: {"event_type": ..., "data": {...}}.
type Event struct {
	EventType string    `json:"event_type"`
	Data      EventData `json:"data"`
}

// EventData is the union of the custom_event and commerce_event data this product sends.
type EventData struct {
	TimestampUnixtimeMS int64      `json:"timestamp_unixtime_ms"`
	SourceMessageID     string     `json:"source_message_id,omitempty"`
	CustomAttributes    Attributes `json:"custom_attributes,omitempty"`

	// custom_event
	EventName       string `json:"event_name,omitempty"`
	CustomEventType string `json:"custom_event_type,omitempty"`

	// commerce_event
	ProductAction *ProductAction `json:"product_action,omitempty"`
	CurrencyCode  string         `json:"currency_code,omitempty"`
}

// ProductAction is a commerce event's action (this product sends "purchase").
type ProductAction struct {
	Action        string    `json:"action"`
	TransactionID string    `json:"transaction_id,omitempty"`
	TotalAmount   *float64  `json:"total_amount,omitempty"`
	Products      []Product `json:"products,omitempty"`
}

// Product is one product of a commerce event.
type Product struct {
	ID       string   `json:"id,omitempty"`
	Name     string   `json:"name,omitempty"`
	Price    *float64 `json:"price,omitempty"`
	Quantity *float64 `json:"quantity,omitempty"`
}

// Limits the Events API sets on inbound data.
const (
	MaxNameLen            = 256
	MaxValueLen           = 4096
	MaxUserAttrListLen    = 1000
	MaxUserAttrListValue  = 512
	MaxAttributesPerEvent = 100
	// MaxBatchBytes and MaxRequestBytes are the API's "128 KB" per batch and "256 KB" per
	// request, read as thousands of bytes (the smaller reading, safe whichever mParticle
	// means). Both are exclusive: a batch's JSON must be shorter than MaxBatchBytes and a
	// request body shorter than MaxRequestBytes.
	MaxBatchBytes        = 128_000
	MaxRequestBytes      = 256_000
	MaxBatchesPerRequest = 100
)
