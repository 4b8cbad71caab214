'use strict';
// The example app's channel catalogue (README, "Channel catalogue"), written to a temporary
// directory for the catalogue tests, and the strict mode's message for the typo they send.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after } = require('node:test');

const SEED_ENTRIES = [
  '- {name: tenant, pattern: "tenant.{id}", kind: [private, presence]}',
  '- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private}',
  '- {name: user, pattern: "user.{id}", kind: private}',
  '- {name: order, pattern: "order.{id}", kind: private}',
];

const typoMessage = 'channel "private-tenant.5.admin" is not in the channel catalogue; did you mean "tenant.{id}.admins"?';

// seedCatalogue writes the seed's four entries to channels.yaml in a new temporary directory,
// removed after the file's tests, and returns {dir, file}.
function seedCatalogue(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'channels.yaml');
  fs.writeFileSync(file, [...SEED_ENTRIES, ''].join('\n'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, file };
}

module.exports = { seedCatalogue, typoMessage };
