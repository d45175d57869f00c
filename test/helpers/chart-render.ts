// The chart rendered by the real helm binary as the chart tests read it: release `t` in namespace
// `irsa`, loose accessors for rendered objects, and an assertion that a render is refused.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import {
  chartDir,
  findObject,
  HelmError,
  helmTemplate,
  REQUIRED_VALUES,
  type K8sObject,
} from './helm.js';

export const RELEASE = 't';
export const NAMESPACE = 'irsa';
export const FULLNAME = 't-profile-irsa-webhook';
const ciDir = join(chartDir, 'ci');
export const ciFiles = readdirSync(ciDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
export const ciFile = (name: string): string => join(ciDir, name);
export const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<
  string,
  unknown
>;
export const FAKE_CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
export const FAKE_CA_B64 = Buffer.from(FAKE_CA_PEM).toString('base64');

/** `helm template t <chart> -n irsa <args>` */
export function render(...args: string[]): Promise<K8sObject[]> {
  return helmTemplate([RELEASE, chartDir, '--namespace', NAMESPACE, ...args]);
}
export const renderDefaults = (...args: string[]) => render(...REQUIRED_VALUES, ...args);

// Loose accessors for rendered objects; a wrong shape fails the assertion that reads it.
/* eslint-disable @typescript-eslint/no-explicit-any */
export type Any = any;
export const spec = (o: K8sObject): Any => (o as Any).spec;
export const podSpec = (objects: K8sObject[]): Any =>
  spec(findObject(objects, 'Deployment')).template.spec;
export const container = (objects: K8sObject[]): Any => podSpec(objects).containers[0];
export const webhooks = (objects: K8sObject[], kind: string): Any[] =>
  (findObject(objects, kind) as Any).webhooks;
/* eslint-enable @typescript-eslint/no-explicit-any */

export function envMap(objects: K8sObject[]): Map<string, unknown> {
  const env = container(objects).env as { name: string; value?: string; valueFrom?: unknown }[];
  return new Map(env.map((e) => [e.name, e.value ?? e.valueFrom]));
}

export function containerPort(objects: K8sObject[], name: string): number {
  const port = (container(objects).ports as { name: string; containerPort: number }[]).find(
    (p) => p.name === name,
  );
  if (!port) throw new Error(`no container port named ${name}`);
  return port.containerPort;
}

/** Asserts that `helm template` with `args` fails and helm's message matches `pattern`. */
export async function rejects(
  tt: Test,
  args: string[],
  pattern: RegExp,
  what: string,
): Promise<void> {
  try {
    await render(...args);
  } catch (err) {
    if (!(err instanceof HelmError)) throw err;
    tt.match(err.stderr, pattern, `${what}: helm names the problem`);
    return;
  }
  tt.fail(`${what}: helm template succeeded but should have failed`);
}
