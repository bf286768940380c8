package config

import "errors"

// validateDev refuses the dev-mode-only settings outside dev mode, so a
// production server never starts with an in-memory store or seeded state
// by accident.
func (c *Server) validateDev() error {
	if c.Dev {
		return nil
	}
	var errs []error
	if c.Ephemeral {
		errs = append(errs, errors.New("--ephemeral needs --dev: only a dev-mode server may keep its store in memory"))
	}
	if c.Seed != "" {
		errs = append(errs, errors.New("--seed needs --dev: only a dev-mode server may be seeded from a state file"))
	}
	return errors.Join(errs...)
}
