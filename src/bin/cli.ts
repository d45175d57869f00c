#!/usr/bin/env node
// The entry point. It imports nothing before the version check: on an older Node.js the
// dependencies fail at import time with a stack trace that names no version.

/** The Node.js the product runs on: package.json `engines.node`, >=24.11 <25. */
const REQUIRED_NODE = { major: 24, minor: 11 } as const;

/** Configuration a user must fix, as for bad settings. */
const UNSUPPORTED = 2;

function supported(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return (
    major > REQUIRED_NODE.major || (major === REQUIRED_NODE.major && minor >= REQUIRED_NODE.minor)
  );
}

if (supported(process.versions.node)) {
  await import('./main.js');
} else {
  process.stderr.write(
    `profile-irsa-webhook needs Node.js ${REQUIRED_NODE.major} (${REQUIRED_NODE.major}.${REQUIRED_NODE.minor} or a later ` +
      `${REQUIRED_NODE.major}.x); this is Node.js ${process.versions.node} (${process.execPath})\n`,
  );
  process.exitCode = UNSUPPORTED;
}
