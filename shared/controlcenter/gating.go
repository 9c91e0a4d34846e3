package controlcenter

import "errors"

// ErrPlanRequired: the caller's plan does not include the mParticle integration, so it may
// not create an integration or turn one on. Reading, disabling, deleting and testing stay
// open, so a customer who downgrades can still see and wind down what exists.
var ErrPlanRequired = errors.New("controlcenter: the mParticle integration needs the Enterprise plan")

// CheckPlanCreate refuses a create by a caller without the plan.
func CheckPlanCreate(entitled bool) error {
	if !entitled {
		return ErrPlanRequired
	}
	return nil
}

// CheckPlanPatch refuses a patch that sets enabled to true by a caller without the plan;
// every other change is allowed. A patch that re-states enabled=true on an enabled
// integration is refused too: the rule is on the request, not on the stored state, so the
// answer does not depend on a read.
func CheckPlanPatch(entitled bool, p Patch) error {
	if !entitled && p.c.Enabled != nil && *p.c.Enabled {
		return ErrPlanRequired
	}
	return nil
}
