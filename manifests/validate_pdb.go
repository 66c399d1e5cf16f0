package manifests

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validatePDB checks a PodDisruptionBudget's spec as the API server's
// validation does: at most one of minAvailable and maxUnavailable, each a
// non-negative integer or a percentage of at most 100%, a well-formed
// selector and a known unhealthyPodEvictionPolicy.
func validatePDB(o *policyv1.PodDisruptionBudget) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	var errs field.ErrorList
	if s.MinAvailable != nil && s.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), s.MaxUnavailable.String(),
			"minAvailable and maxUnavailable cannot be both set: keep one of them"))
	}
	for _, f := range []struct {
		v    *intstr.IntOrString
		name string
	}{{s.MinAvailable, "minAvailable"}, {s.MaxUnavailable, "maxUnavailable"}} {
		if f.v == nil {
			continue
		}
		fp := p.Child(f.name)
		n, e := validateIntOrPercent(*f.v, fp)
		errs = append(errs, e...)
		if f.v.Type == intstr.String && len(e) == 0 && n > 100 {
			errs = append(errs, field.Invalid(fp, f.v.StrVal, "must not be greater than 100%"))
		}
	}
	if s.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	}
	if pol := s.UnhealthyPodEvictionPolicy; pol != nil {
		switch *pol {
		case policyv1.IfHealthyBudget, policyv1.AlwaysAllow:
		default:
			errs = append(errs, field.NotSupported(p.Child("unhealthyPodEvictionPolicy"), *pol,
				[]policyv1.UnhealthyPodEvictionPolicyType{policyv1.IfHealthyBudget, policyv1.AlwaysAllow}))
		}
	}
	return errs
}

// pdbWarnings warns about PodDisruptionBudgets that Kubernetes accepts but
// that never allow an eviction: without a selector a budget selects no pod,
// and without minAvailable or maxUnavailable it allows no disruption.
func pdbWarnings(obj Obj) field.ErrorList {
	o, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return nil
	}
	var errs field.ErrorList
	if o.Spec.Selector == nil {
		errs = append(errs, &field.Error{Field: "spec.selector",
			Detail: "is not set: the budget selects no pod and protects nothing; set matchLabels (an empty selector {} selects every pod of the namespace)"})
	}
	if o.Spec.MinAvailable == nil && o.Spec.MaxUnavailable == nil {
		errs = append(errs, &field.Error{Field: "spec",
			Detail: "sets neither minAvailable nor maxUnavailable: the budget allows no eviction at all (kubectl drain waits forever); set one of them"})
	}
	return errs
}
