// Package config owns the service's environment variables: one table (vars.go)
// says, for every variable, its name, its default, whether it is a secret,
// which binaries read it, one line of documentation and how it is parsed and
// checked. Everything else is derived from that table:
//
//   - Load reads the variables of one binary (Producer, Worker, Importctl) into
//     a Config: the Common section, and the Producer or Worker section. A
//     variable the binary does not read is not looked at, so a wrong worker
//     setting never stops the producer or importctl.
//   - Config.Print writes the loaded variables for --print-config, secrets
//     masked.
//   - docs/configuration.md, the configuration reference, and
//     deploy/check/variables.json, the list the deployment checker (its own Go
//     module) embeds, are generated from the table by `make docs`
//     (go generate ./internal/config); a test fails when they are not current.
//
// Defaults live in the table. Where a library package needs the same value
// as its own fallback, the table refers to that package's constant
// (userfile.DefaultChunkSize, s3store.DefaultReadTimeout, postgres.DefaultURL),
// so that each value is written once.
//
// # Adding a variable
//
// Add one row to vars, in the group it belongs to (the order of the table is
// the order of --print-config and of the reference), and the field it fills
// to Common, ProducerSettings or WorkerSettings:
//
//	{Name: "NOTIFY_MAX_RECIPIENTS", Default: "20", Binaries: Producer,
//		Doc:   "most addresses one import may notify",
//		value: positive(func(c *Config) *int { return &c.Producer.NotifyMaxRecipients })},
//
// Pick the parser among the constructors in value.go (positive, atLeastZero,
// duration, rate, boolean, text, secret, credential, url, ...) or write one
// there; set Secret for a value that must never be shown. Then run `make
// docs` and commit the regenerated docs/configuration.md and
// deploy/check/variables.json with the row. Nothing else lists the names.
package config
