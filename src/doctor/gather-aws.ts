import {
  GetOpenIDConnectProviderCommand,
  GetPolicyCommand,
  GetRoleCommand,
  IAMClient,
  SimulatePrincipalPolicyCommand,
  type ContextEntry,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type {
  CallerIdentity,
  ErrorFact,
  IamCall,
  OidcProviderFact,
  Outcome,
  SimulationDecision,
} from './facts.js';

const CALL_TIMEOUT_MS = 10_000;
const NOT_FOUND = /^NoSuchEntity(Exception)?$/;

/** Reads doctor makes in AWS, with the SDK's own credential and endpoint chain, as `serve` does. */
export interface AwsGatherers {
  identity(): Promise<Outcome<CallerIdentity>>;
  oidcProvider(arn: string): Promise<Outcome<OidcProviderFact | null>>;
  simulate(principalArn: string, calls: IamCall[]): Promise<Outcome<SimulationDecision[]>>;
  roleExists(roleName: string): Promise<Outcome<boolean>>;
  policyExists(policyArn: string): Promise<Outcome<boolean>>;
  close(): void;
}

function awsError(error: unknown): ErrorFact {
  const e = (error ?? {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const status = e.$metadata?.httpStatusCode;
  // An answer that is no AWS error document (an HTML error page) says nothing but its status.
  if (typeof e.message === 'string' && /Deserialization error|XML parse error/.test(e.message)) {
    return {
      name: typeof status === 'number' ? `HTTP ${status}` : 'Error',
      message: 'the endpoint answered with no AWS error document',
      status: typeof status === 'number' ? status : undefined,
    };
  }
  return {
    name: typeof e.name === 'string' && e.name ? e.name : 'Error',
    message: typeof e.message === 'string' && e.message ? e.message.split('\n')[0]! : String(error),
    status: typeof status === 'number' ? status : undefined,
    code: typeof e.code === 'string' ? e.code : undefined,
  };
}

const signal = () => ({ abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS) });

export function createAwsGatherers(region: string): AwsGatherers {
  // Two attempts: a transient error gets one retry, a missing API (an emulator) fails fast.
  const options = { region, maxAttempts: 2 };
  const sts = new STSClient(options);
  const iam = new IAMClient(options);
  return {
    async identity() {
      try {
        const answer = await sts.send(new GetCallerIdentityCommand({}), signal());
        if (!answer.Arn || !answer.Account) {
          return {
            ok: false,
            error: { name: 'Error', message: 'GetCallerIdentity returned no ARN or account' },
          };
        }
        return { ok: true, value: { arn: answer.Arn, account: answer.Account } };
      } catch (error) {
        return { ok: false, error: awsError(error) };
      }
    },
    async oidcProvider(arn) {
      try {
        const answer = await iam.send(
          new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn }),
          signal(),
        );
        return {
          ok: true,
          value: { arn, url: answer.Url ?? '', clientIds: answer.ClientIDList ?? [] },
        };
      } catch (error) {
        const fact = awsError(error);
        return NOT_FOUND.test(fact.name) ? { ok: true, value: null } : { ok: false, error: fact };
      }
    },
    async simulate(principalArn, calls) {
      const decisions: SimulationDecision[] = [];
      for (const call of calls) {
        try {
          const answer = await iam.send(
            new SimulatePrincipalPolicyCommand({
              PolicySourceArn: principalArn,
              ActionNames: [call.action],
              ResourceArns: [call.resource],
              ContextEntries: contextEntries(call.context),
            }),
            signal(),
          );
          const result = answer.EvaluationResults?.[0];
          decisions.push({
            action: call.action,
            resource: call.resource,
            decision: result?.EvalDecision ?? 'implicitDeny',
            purpose: call.purpose,
          });
        } catch (error) {
          // The simulator is unavailable (not allowed, not implemented): the rest would say the same.
          return { ok: false, error: awsError(error) };
        }
      }
      return { ok: true, value: decisions };
    },
    async roleExists(roleName) {
      try {
        await iam.send(new GetRoleCommand({ RoleName: roleName }), signal());
        return { ok: true, value: true };
      } catch (error) {
        const fact = awsError(error);
        return NOT_FOUND.test(fact.name) ? { ok: true, value: false } : { ok: false, error: fact };
      }
    },
    async policyExists(policyArn) {
      try {
        await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }), signal());
        return { ok: true, value: true };
      } catch (error) {
        const fact = awsError(error);
        return NOT_FOUND.test(fact.name) ? { ok: true, value: false } : { ok: false, error: fact };
      }
    },
    close() {
      sts.destroy();
      iam.destroy();
    },
  };
}

function contextEntries(context: Record<string, string | string[]>): ContextEntry[] {
  return Object.entries(context).map(([key, value]) => ({
    ContextKeyName: key,
    ContextKeyValues: Array.isArray(value) ? value : [value],
    ContextKeyType: Array.isArray(value) ? 'stringList' : 'string',
  }));
}
