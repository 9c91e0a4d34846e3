package mpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// The rules below follow the Events API's documented batch shape (mParticle's JSON
// reference) and the official JSON schema, with the schema's known defects repaired
// (partner_identities, other_id_5..10 and phone identities, purpose-keyed gdpr and ccpa
// consent) and a few deliberate tightenings, each commented, where the docs say a field
// is output-only or where mParticle would silently lose data.

// validateBatch returns what is wrong with one raw batch; nil means it is acceptable.
func validateBatch(raw []byte) []string {
	var v violations
	// "128 KB" read the strict way: a batch must stay under 128,000 bytes.
	if len(raw) >= mparticle.MaxBatchBytes {
		v.add("", "batch is %d bytes, the limit is under %d", len(raw), mparticle.MaxBatchBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var val any
	if err := dec.Decode(&val); err != nil {
		v.add("", "invalid JSON: %v", err)
		return v.msgs
	}
	batchSpec.check(&v, "", val)
	return v.msgs
}

var environments = []string{mparticle.EnvProduction, mparticle.EnvDevelopment}

// serverSet refuses fields mParticle fills itself: its JSON reference lists them as
// output-only or internal (and says not to set the batch timestamp). The schema tolerates
// them, but a forwarder sending them is copying an outbound batch, which is a bug worth
// failing on.
func serverSet(v *violations, path string, _ any) {
	v.add(path, "is set by mParticle and must not be sent")
}

var batchSpec = object{
	required: []string{"environment"},
	fields: map[string]rule{
		"environment":             enum(environments...),
		"source_request_id":       str,
		"events":                  arrayOf(eventRule),
		"device_info":             deviceInfoSpec.check,
		"application_info":        applicationInfoSpec.check,
		"user_attributes":         userAttributes,
		"deleted_user_attributes": arrayOf(nonEmptyStr),
		"user_identities":         userIdentitiesSpec.check,
		"partner_identities":      mapOf(nonEmptyStr),
		"partner_identity":        str,
		"integration_attributes":  mapOf(mapOf(scalar)),
		"consent_state":           consentStateSpec.check,
		"context":                 batchContextSpec.check,
		"ip":                      ipAddress,
		"mp_deviceid":             uuid,
		"mpid":                    integer,

		"schema_version":        serverSet,
		"timestamp_unixtime_ms": serverSet,
		"batch_id":              serverSet,
		"source_info":           serverSet,
		"api_key":               serverSet,
		"api_keys":              serverSet,
		"sdk_version":           serverSet,
		"job_id":                serverSet,
		"attribution_info":      serverSet,
		"origin_mpid":           serverSet,
	},
	hints: map[string]string{
		"batch_context":   "the wire name is context",
		"customer_id":     "customer_id belongs in user_identities",
		"user_identity":   "the field is user_identities",
		"user_attribute":  "the field is user_attributes",
		"partner_identiy": "the field is partner_identities",
	},
}

// User identities: the JSON reference's list, a superset of the stale schema's (which
// stops at other_id_4 and lacks the phone identities). Values must be strings: the schema's loose
// scalar type would let a numeric customer_id through, which mParticle keys as text.
var userIdentitiesSpec = func() object {
	names := []string{
		"customer_id", "email", "other", "mobile_number", "phone_number_2", "phone_number_3",
		"facebook", "twitter", "google", "microsoft", "yahoo", "alias", "facebook_custom_audience_id",
	}
	for i := 2; i <= 10; i++ {
		names = append(names, fmt.Sprintf("other_id_%d", i))
	}
	fields := map[string]rule{}
	for _, n := range names {
		fields[n] = str
	}
	return object{fields: fields, hints: map[string]string{
		"customerid": "did you mean customer_id?",
		"customerId": "did you mean customer_id?",
		"mpid":       "mpid is a batch field",
	}}
}()

var platforms = []string{"iOS", "Android", "web", "tvOS", "roku", "out_of_band", "alexa", "smart_tv", "fire_tv", "xbox", "desktop"}

var deviceInfoSpec = object{fields: map[string]rule{
	"platform":                          enum(platforms...),
	"ios_idfv":                          uuid,
	"ios_advertising_id":                uuid,
	"android_advertising_id":            uuid,
	"roku_advertising_id":               uuid,
	"roku_publisher_id":                 uuid,
	"fire_advertising_id":               uuid,
	"android_uuid":                      scalar,
	"microsoft_advertising_id":          scalar,
	"microsoft_publisher_id":            scalar,
	"att_authorization_status":          enum("authorized", "denied", "not_determined", "restricted"),
	"att_timestamp_unixtime_ms":         integer,
	"limit_ad_tracking":                 boolean,
	"push_token":                        scalar,
	"brand":                             scalar,
	"product":                           scalar,
	"device":                            scalar,
	"device_manufacturer":               scalar,
	"os_version":                        scalar,
	"device_model":                      scalar,
	"screen_height":                     integer,
	"screen_width":                      integer,
	"screen_dpi":                        integer,
	"device_country":                    scalar,
	"locale_language":                   scalar,
	"locale_country":                    scalar,
	"network_country":                   scalar,
	"network_carrier":                   scalar,
	"network_code":                      scalar,
	"network_mobile_country_code":       scalar,
	"timezone_offset":                   integer,
	"build_identifier":                  scalar,
	"http_header_user_agent":            scalar,
	"cpu_architecture":                  scalar,
	"is_tablet":                         boolean,
	"push_notification_sound_enabled":   boolean,
	"push_notification_vibrate_enabled": boolean,
	"radio_access_technology":           scalar,
	"supports_telephony":                boolean,
	"has_nfc":                           boolean,
	"bluetooth_enabled":                 boolean,
	"bluetooth_version":                 scalar,
	"build_version_release":             scalar,
	"amp_id":                            scalar,
	"is_dst":                            boolean,
}}

// The schema places this enum beside a $ref, where draft-07 ignores it; the docs present
// it as an enum, so it is enforced here (with the OAS's "Unknown" default).
var applicationOS = []string{
	"Unknown", "IOS", "Android", "WindowsPhone", "MobileWeb", "UnityIOS", "UnityAndroid", "Desktop",
	"TVOS", "Roku", "OutOfBand", "Alexa", "SmartTV", "FireTV", "Xbox",
}

var applicationInfoSpec = object{fields: map[string]rule{
	"application_name":            scalar,
	"application_version":         scalar,
	"application_build_number":    scalar,
	"install_referrer":            scalar,
	"package":                     scalar,
	"os":                          enum(applicationOS...),
	"apple_search_ads_attributes": mapOf(mapOf(scalar)),
}}

var geoLocationSpec = object{
	required: []string{"latitude", "longitude"},
	fields:   map[string]rule{"latitude": number, "longitude": number, "accuracy": number},
}

var batchContextSpec = object{fields: map[string]rule{
	"data_plan": object{
		required: []string{"plan_id"},
		fields:   map[string]rule{"plan_id": nonEmptyStr, "plan_version": integer},
	}.check,
	"location": geoLocationSpec.check,
}}

// Consent as mParticle's JSON reference documents it (gdpr keyed by purpose, plus ccpa),
// not the schema's single gdpr object.
var consentRecordSpec = object{
	required: []string{"consented"},
	fields: map[string]rule{
		"consented":             boolean,
		"document":              scalar,
		"timestamp_unixtime_ms": integer,
		"location":              scalar,
		"hardware_id":           scalar,
	},
}

var consentStateSpec = object{fields: map[string]rule{
	"gdpr": mapOf(consentRecordSpec.check),
	"ccpa": object{fields: map[string]rule{"data_sale_opt_out": consentRecordSpec.check}}.check,
}}

// attributeValue checks one custom (event) attribute value: a scalar, since the schema
// refuses objects and arrays there.
func attributeValue(v *violations, path string, val any) {
	switch x := val.(type) {
	case string:
		if l := utf8.RuneCountInString(x); l > mparticle.MaxValueLen {
			v.add(path, "value is %d characters, over the limit of %d", l, mparticle.MaxValueLen)
		}
	case json.Number, bool:
	default:
		v.add(path, "must be a string, number or boolean, got %s", typeName(val))
	}
}

// attributeMap applies the shared per-map limits: count and name length. mParticle
// truncates over-long names on S2S; refusing them makes silent data loss visible in tests.
func attributeMap(value rule) rule {
	return func(v *violations, path string, val any) {
		m, ok := val.(map[string]any)
		if !ok {
			v.add(path, "must be an object, got %s", typeName(val))
			return
		}
		if len(m) > mparticle.MaxAttributesPerEvent {
			v.add(path, "has %d attributes, over the limit of %d", len(m), mparticle.MaxAttributesPerEvent)
		}
		for _, k := range sortedKeys(m) {
			p := key(path, k)
			switch l := utf8.RuneCountInString(k); {
			case l == 0:
				v.add(p, "attribute name must not be empty")
			case l > mparticle.MaxNameLen:
				v.add(p, "attribute name is %d characters, over the limit of %d", l, mparticle.MaxNameLen)
			}
			value(v, p, m[k])
		}
	}
}

var customAttributes = attributeMap(attributeValue)

// userAttributeValue: a scalar or a list of strings (the schema's StringOrArray).
// A null is refused: removal is what deleted_user_attributes is for.
func userAttributeValue(v *violations, path string, val any) {
	list, ok := val.([]any)
	if !ok {
		if val == nil {
			v.add(path, "must not be null (use deleted_user_attributes to remove an attribute)")
			return
		}
		attributeValue(v, path, val)
		return
	}
	if len(list) > mparticle.MaxUserAttrListLen {
		v.add(path, "list has %d entries, over the limit of %d", len(list), mparticle.MaxUserAttrListLen)
	}
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			v.add(index(path, i), "list entries must be strings, got %s", typeName(x))
			continue
		}
		if l := utf8.RuneCountInString(s); l > mparticle.MaxUserAttrListValue {
			v.add(index(path, i), "list entry is %d characters, over the limit of %d", l, mparticle.MaxUserAttrListValue)
		}
	}
}

var userAttributes = attributeMap(userAttributeValue)

// Event types mParticle's JSON reference lists as accepted inbound.
var inboundEventTypes = []string{
	mparticle.EventTypeCustom, mparticle.EventTypeCommerce, "session_start", "session_end", "screen_view",
	"uninstall", "crash_report", "opt_out", "push_registration", "application_state_transition",
	"push_message", "network_performance", "breadcrumb",
}

// Types the schema defines but mParticle generates itself (profile and change events):
// refused with a pointed message, since user attributes and identities are set at batch level.
var systemEventTypes = []string{
	"first_run", "profile", "user_attribute_change", "user_identity_change", "pre_attribution", "push_reaction",
}

// Fields common to every event's data (the schema's EventData), plus custom_flags, which
// mParticle's JSON reference documents for all events.
var commonEventData = map[string]rule{
	"timestamp_unixtime_ms":          millis,
	"source_message_id":              uuid,
	"event_id":                       integer,
	"session_id":                     integer,
	"session_uuid":                   uuid,
	"session_start_unixtime_ms":      integer,
	"event_start_unixtime_ms":        integer,
	"custom_attributes":              customAttributes,
	"custom_flags":                   mapOf(scalar),
	"location":                       geoLocationSpec.check,
	"device_current_state":           mapOf(scalarOrNull),
	"is_goal_defined":                boolean,
	"lifetime_value_change":          number,
	"lifetime_value_attribute_name":  scalar,
	"data_connection_type":           scalar,
	"event_num":                      integer,
	"view_controller":                scalar,
	"is_main_thread":                 boolean,
	"canonical_name":                 scalar,
	"event_system_notification_info": object{required: []string{"type"}, fields: map[string]rule{"type": enum("gdpr_change")}}.check,
}

// scalarOrNull is for SDK state snapshots, whose unknown readings are sent as null.
func scalarOrNull(v *violations, path string, val any) {
	if val != nil {
		scalar(v, path, val)
	}
}

var customEventTypes = []string{
	"navigation", "location", "search", "transaction", "user_content", "user_preference",
	"social", "media", "attribution", "other",
}

var productActions = []string{
	"add_to_cart", "remove_from_cart", "checkout", "checkout_option", "click", "view_detail",
	"purchase", "refund", "add_to_wishlist", "remove_from_wish_list",
}

var commerceCustomEventTypes = append(slices.Clone(customEventTypes),
	"add_to_cart", "remove_from_cart", "checkout", "checkout_option", "click", "view_detail", "purchase",
	"refund", "promotion_view", "promotion_click", "add_to_wishlist", "remove_from_wishlist", "impression",
	"consent_granted", "consent_denied",
)

var eventName = maxLen(mparticle.MaxNameLen, nonEmptyStr)

var productSpec = object{fields: map[string]rule{
	"id":                    str,
	"name":                  str,
	"brand":                 scalar,
	"category":              scalar,
	"variant":               scalar,
	"position":              integer,
	"price":                 number,
	"quantity":              number,
	"coupon_code":           scalar,
	"added_to_cart_time_ms": integer,
	"total_product_amount":  number,
	"custom_attributes":     customAttributes,
}}

var productActionSpec = object{
	required: []string{"action"},
	fields: map[string]rule{
		"action":              enum(productActions...),
		"checkout_step":       integer,
		"checkout_options":    scalar,
		"product_action_list": scalar,
		"product_list_source": scalar,
		"transaction_id":      str,
		"affiliation":         scalar,
		"total_amount":        number,
		"tax_amount":          number,
		"shipping_amount":     number,
		"coupon_code":         scalar,
		"products":            arrayOf(productSpec.check),
	},
}

var promotionActionSpec = object{
	required: []string{"action"},
	fields: map[string]rule{
		"action": enum("view", "click"),
		"promotions": arrayOf(object{fields: map[string]rule{
			"id": str, "name": str, "creative": scalar, "position": scalar,
		}}.check),
	},
}

var productImpressionSpec = object{
	required: []string{"product_impression_list", "products"},
	fields: map[string]rule{
		"product_impression_list": str,
		"products":                arrayOf(productSpec.check),
	},
}

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

func currencyCode(v *violations, path string, val any) {
	s, ok := val.(string)
	if !ok || !currencyPattern.MatchString(s) {
		v.add(path, "must be an ISO 4217 code such as USD, got %s", describe(val))
	}
}

// commerceOneOf: mParticle's JSON reference says a commerce event carries exactly one of
// the three.
func commerceOneOf(v *violations, path string, m map[string]any) {
	var present []string
	for _, k := range []string{"product_action", "promotion_action", "product_impressions"} {
		if m[k] != nil {
			present = append(present, k)
		}
	}
	if len(present) != 1 {
		got := "none"
		if len(present) > 0 {
			got = strings.Join(present, ", ")
		}
		v.add(path, "a commerce_event needs exactly one of product_action, promotion_action, product_impressions; got %s", got)
	}
}

// eventDataSpecs holds, per inbound type, the data fields the schema defines for it.
// Required fields follow the schema except session_start's session_id, which the JSON
// reference's own example omits (a known defect of the schema).
var eventDataSpecs = map[string]object{
	mparticle.EventTypeCustom: {
		required: []string{"event_name", "custom_event_type"},
		fields: merge(commonEventData, map[string]rule{
			"event_name":        eventName,
			"custom_event_type": enum(customEventTypes...),
		}),
	},
	mparticle.EventTypeCommerce: {
		fields: merge(commonEventData, map[string]rule{
			"product_action":      productActionSpec.check,
			"promotion_action":    promotionActionSpec.check,
			"product_impressions": arrayOf(productImpressionSpec.check),
			"shopping_cart": object{
				required: []string{"products"},
				fields:   map[string]rule{"products": arrayOf(productSpec.check)},
			}.check,
			"currency_code":      currencyCode,
			"screen_name":        scalar,
			"is_non_interactive": boolean,
			"event_name":         eventName,
			"custom_event_type":  enum(commerceCustomEventTypes...),
		}),
		after: commerceOneOf,
	},
	"session_start": {fields: commonEventData},
	"session_end":   {fields: merge(commonEventData, map[string]rule{"session_duration_ms": integer})},
	"screen_view": {
		required: []string{"screen_name"},
		fields:   merge(commonEventData, map[string]rule{"screen_name": eventName, "activity_type": scalar}),
	},
	"uninstall": {fields: commonEventData},
	"crash_report": {fields: merge(commonEventData, map[string]rule{
		"breadcrumbs":                 arrayOf(mapOf(scalarOrNull)),
		"class_name":                  scalar,
		"severity":                    scalar,
		"message":                     scalar,
		"stack_trace":                 scalar,
		"exception_handled":           boolean,
		"topmost_context":             scalar,
		"pl_crash_report_file_base64": scalar,
		"ios_image_base_address":      integer,
		"ios_image_size":              integer,
		"session_number":              integer,
	})},
	"opt_out": {
		required: []string{"is_opted_out"},
		fields:   merge(commonEventData, map[string]rule{"is_opted_out": boolean}),
	},
	"push_registration": {
		required: []string{"register", "registration_token"},
		fields:   merge(commonEventData, map[string]rule{"register": boolean, "registration_token": str}),
	},
	"application_state_transition": {
		required: []string{"application_transition_type"},
		fields: merge(commonEventData, map[string]rule{
			"successfully_closed":       boolean,
			"is_first_run":              boolean,
			"is_upgrade":                boolean,
			"push_notification_payload": scalar,
			"launch_referral":           scalar,
			"application_transition_type": enum("application_initialized", "application_exit",
				"application_background", "application_foreground"),
		}),
	},
	"push_message": {
		required: []string{"push_message_token", "push_message_type", "push_notification_payload"},
		fields: merge(commonEventData, map[string]rule{
			"push_message_token":        scalar,
			"push_message_type":         enum("sent", "received", "action"),
			"message":                   scalar,
			"network":                   scalar,
			"push_notification_payload": scalar,
			"application_state":         enum("not_running", "background", "foreground"),
			"action_identifier":         scalar,
			"push_message_behavior":     enum("Received", "DirectOpen", "Read", "InfluencedOpen", "Displayed"),
		}),
	},
	"network_performance": {
		required: []string{"url", "response_code"},
		fields: merge(commonEventData, map[string]rule{
			"http_verb":     str,
			"url":           str,
			"time_elapsed":  integer,
			"bytes_in":      integer,
			"bytes_out":     integer,
			"response_code": integer,
			"data":          scalar,
		}),
	},
	"breadcrumb": {
		required: []string{"label"},
		fields:   merge(commonEventData, map[string]rule{"session_number": integer, "label": str}),
	},
}

func eventRule(v *violations, path string, val any) {
	m, ok := val.(map[string]any)
	if !ok {
		v.add(path, "must be an object, got %s", typeName(val))
		return
	}
	for _, k := range sortedKeys(m) {
		if k != "event_type" && k != "data" {
			v.add(field(path, k), "unknown field (an event is {\"event_type\", \"data\"})")
		}
	}
	tp := field(path, "event_type")
	var spec object
	switch et := m["event_type"].(type) {
	case nil:
		v.add(tp, "is required")
	case string:
		switch s, known := eventDataSpecs[et]; {
		case known:
			spec = s
		case slices.Contains(systemEventTypes, et):
			v.add(tp, "%q is generated by mParticle and not accepted inbound", et)
		default:
			v.add(tp, "must be one of %s, got %s", strings.Join(inboundEventTypes, " "), describe(et))
		}
	default:
		v.add(tp, "must be a string, got %s", typeName(et))
	}
	if m["data"] == nil {
		v.add(field(path, "data"), "is required")
		return
	}
	if spec.fields != nil {
		spec.check(v, field(path, "data"), m["data"])
	}
}
