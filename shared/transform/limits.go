package transform

import (
	"unicode/utf8"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// batchBudget is the most JSON bytes a batch may take: under the API's 128 KB per batch with
// room to spare for the bulk request's framing.
const batchBudget = mparticle.MaxBatchBytes - 1024

// skeletonBytes bounds everything in a batch's JSON that is not a string this package measures:
// field names, punctuation and numbers of the fixed structure (about 900 bytes when every field
// is set; a test holds the estimate above the real size).
const skeletonBytes = 1536

// squeezedValueLen is what descriptive values are cut to when they alone would overflow a
// batch (only possible with values near the 4,096-character limit): identities and the user
// state lists matter more to mParticle than long descriptive text.
const squeezedValueLen = 256

// Characters are counted as UTF-16 code units (a rune above U+FFFF counts 2): the stricter of
// the possible readings of the API's "characters", so a value never exceeds it.
func truncUnits(s string, n int) string {
	if len(s) <= n { // a UTF-8 string never has more UTF-16 units than bytes
		return s
	}
	units := 0
	for i, r := range s {
		w := 1
		if r > 0xFFFF {
			w = 2
		}
		if units+w > n {
			return s[:i]
		}
		units += w
	}
	return s
}

// truncValue cuts a value of input field f to the API's value limit, recording f when it cuts.
func truncValue(f event.Field, s string, deg *event.Degraded) string {
	t := truncUnits(s, mparticle.MaxValueLen)
	if len(t) != len(s) {
		deg.Add(f)
	}
	return t
}

var emptyList any = []string{}

// userList applies the API's user attribute list limits to input field f: at most 1,000
// entries of at most 512 characters. It returns the input's own slice when nothing needs
// cutting.
func userList(f event.Field, list []string, deg *event.Degraded) any {
	if len(list) == 0 {
		return emptyList
	}
	if len(list) > mparticle.MaxUserAttrListLen {
		list = list[:mparticle.MaxUserAttrListLen]
		deg.Add(f)
	}
	for i, v := range list {
		if len(v) > mparticle.MaxUserAttrListValue {
			out := make([]string, len(list))
			copy(out, list[:i])
			for j := i; j < len(list); j++ {
				if out[j] = truncUnits(list[j], mparticle.MaxUserAttrListValue); len(out[j]) != len(list[j]) {
					deg.Add(f)
				}
			}
			return out
		}
	}
	return list
}

// jsonLen is the length of s as the mParticle client writes it (as encoding/json does, HTML
// escaping on), quotes included.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += len("\uFFFD") // the client writes the replacement character itself
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// coarseLen bounds jsonLen without reading the string (no byte expands past 6).
func coarseLen(s string) int { return 6*len(s) + 2 }

// batchSize bounds the JSON size of b from above. Lists in user attributes are counted unless
// skipLists; strLen measures each string.
func batchSize(b *mparticle.Batch, strLen func(string) int, skipLists bool) int {
	n := skeletonBytes + strLen(b.Environment) + strLen(b.SourceRequestID) + strLen(b.IP)
	for i := range b.Events {
		d := &b.Events[i].Data
		n += 64 + strLen(d.SourceMessageID) + strLen(d.EventName) + strLen(d.CustomEventType) + strLen(d.CurrencyCode)
		for k, v := range d.CustomAttributes {
			n += strLen(k) + strLen(v) + 2
		}
		if pa := d.ProductAction; pa != nil {
			n += strLen(pa.Action) + strLen(pa.TransactionID)
			for _, p := range pa.Products {
				n += 128 + strLen(p.ID) + strLen(p.Name)
			}
		}
	}
	if u := b.UserIdentities; u != nil {
		n += strLen(u.CustomerID) + strLen(u.Email) + strLen(u.Other)
	}
	for k, v := range b.PartnerIdentities {
		n += strLen(k) + strLen(v) + 2
	}
	for k, v := range b.UserAttributes {
		n += strLen(k) + 2
		switch v := v.(type) {
		case string:
			n += strLen(v)
		case []string:
			n += 2
			if !skipLists {
				for _, e := range v {
					n += strLen(e) + 1
				}
			}
		default:
			n += 32
		}
	}
	if d := b.DeviceInfo; d != nil {
		n += strLen(d.Platform) + strLen(d.IOSIDFV) + strLen(d.IOSAdvertisingID) + strLen(d.AndroidAdvertisingID) +
			strLen(d.AndroidUUID) + strLen(d.OSVersion) + strLen(d.DeviceModel) + strLen(d.LocaleLanguage) + strLen(d.LocaleCountry)
	}
	if a := b.ApplicationInfo; a != nil {
		n += strLen(a.ApplicationVersion) + strLen(a.OS)
	}
	return n
}

// fitBatch keeps b under batchBudget and reports whether it had to cut anything. Real batches
// are a few KB and leave at the first, allocation-free check. Otherwise descriptive values are
// shortened first, then the user state lists are cut to what fits, each keeping a prefix and
// the space shared round-robin so no list is emptied for another's sake.
func fitBatch(b *mparticle.Batch) bool {
	if batchSize(b, coarseLen, false) <= batchBudget || batchSize(b, jsonLen, false) <= batchBudget {
		return false
	}
	if batchSize(b, jsonLen, true) > batchBudget {
		squeezeValues(b)
	}
	cutLists(b, batchBudget-batchSize(b, jsonLen, true))
	return true
}

// squeezeValues shortens the free-text values this package sets. All of them are ours to
// modify: ToBatch built these maps and structs for this batch.
func squeezeValues(b *mparticle.Batch) {
	for i := range b.Events {
		d := &b.Events[i].Data
		for k, v := range d.CustomAttributes {
			d.CustomAttributes[k] = truncUnits(v, squeezedValueLen)
		}
		if pa := d.ProductAction; pa != nil {
			pa.TransactionID = truncUnits(pa.TransactionID, squeezedValueLen)
			for j := range pa.Products {
				pa.Products[j].ID = truncUnits(pa.Products[j].ID, squeezedValueLen)
				pa.Products[j].Name = truncUnits(pa.Products[j].Name, squeezedValueLen)
			}
		}
	}
	if d := b.DeviceInfo; d != nil {
		d.OSVersion = truncUnits(d.OSVersion, squeezedValueLen)
		d.DeviceModel = truncUnits(d.DeviceModel, squeezedValueLen)
		d.AndroidUUID = truncUnits(d.AndroidUUID, squeezedValueLen)
	}
	if a := b.ApplicationInfo; a != nil {
		a.ApplicationVersion = truncUnits(a.ApplicationVersion, squeezedValueLen)
	}
}

var listAttrs = [...]string{userAttrEntitlements, userAttrSKUs, userAttrDeviceIDs, userAttrDevicePlatforms}

// cutLists keeps, of each user attribute list, the longest prefixes whose entries fit in
// budget bytes, taking entries round-robin across the lists.
func cutLists(b *mparticle.Batch, budget int) {
	if b.UserAttributes == nil {
		return
	}
	var lists [len(listAttrs)][]string
	var kept [len(listAttrs)]int
	for j, k := range listAttrs {
		lists[j], _ = b.UserAttributes[k].([]string)
	}
	for i := 0; ; i++ {
		progress := false
		for j, l := range lists {
			if kept[j] != i || i >= len(l) {
				continue
			}
			if c := jsonLen(l[i]) + 1; c <= budget {
				budget -= c
				kept[j]++
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	for j, k := range listAttrs {
		if lists[j] != nil {
			b.UserAttributes[k] = lists[j][:kept[j]:kept[j]]
		}
	}
}
