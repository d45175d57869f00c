import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { PolicyDocument } from '../../src/core/policy-document.js';
import { ACCOUNT_ID } from './settings.js';

/**
 * The IAM action each S3 API call is authorized by (Service Authorization Reference for S3): the
 * multipart calls that write data are s3:PutObject, ListParts is s3:ListMultipartUploadParts, and
 * PutPublicAccessBlock on a bucket is s3:PutBucketPublicAccessBlock.
 */
const OPERATIONS = {
  PutObject: { action: 's3:PutObject', on: 'object' },
  GetObject: { action: 's3:GetObject', on: 'object' },
  DeleteObject: { action: 's3:DeleteObject', on: 'object' },
  CreateMultipartUpload: { action: 's3:PutObject', on: 'object' },
  UploadPart: { action: 's3:PutObject', on: 'object' },
  CompleteMultipartUpload: { action: 's3:PutObject', on: 'object' },
  AbortMultipartUpload: { action: 's3:AbortMultipartUpload', on: 'object' },
  ListParts: { action: 's3:ListMultipartUploadParts', on: 'object' },
  ListObjectsV2: { action: 's3:ListBucket', on: 'bucket' },
  ListMultipartUploads: { action: 's3:ListBucketMultipartUploads', on: 'bucket' },
  GetBucketLocation: { action: 's3:GetBucketLocation', on: 'bucket' },
  PutBucketPolicy: { action: 's3:PutBucketPolicy', on: 'bucket' },
  DeleteBucketPolicy: { action: 's3:DeleteBucketPolicy', on: 'bucket' },
  PutBucketAcl: { action: 's3:PutBucketAcl', on: 'bucket' },
  PutPublicAccessBlock: { action: 's3:PutBucketPublicAccessBlock', on: 'bucket' },
  DeleteBucket: { action: 's3:DeleteBucket', on: 'bucket' },
} as const;

export type S3Operation = keyof typeof OPERATIONS;

/** The calls of a multipart upload of one object, in order. */
export const MULTIPART_UPLOAD: S3Operation[] = [
  'CreateMultipartUpload',
  'UploadPart',
  'ListParts',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
];

export const BUCKET_WRITES: S3Operation[] = [
  'PutBucketPolicy',
  'DeleteBucketPolicy',
  'PutBucketAcl',
  'PutPublicAccessBlock',
  'DeleteBucket',
];

export interface S3Call {
  operation: S3Operation;
  bucket: string;
  /** The object key (object calls). */
  key?: string;
  /** ListObjectsV2's Prefix and Delimiter; absent means the request has none. */
  prefix?: string;
  delimiter?: string;
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

/** What IAM decides for a role with this inline policy (and boundary) making the call. */
export async function decide(
  policy: PolicyDocument,
  call: S3Call,
  boundary?: PolicyDocument,
): Promise<Decision> {
  const { action, on } = OPERATIONS[call.operation];
  const contextVariables: Record<string, string> = {};
  if (call.prefix !== undefined) contextVariables['s3:prefix'] = call.prefix;
  if (call.delimiter !== undefined) contextVariables['s3:delimiter'] = call.delimiter;
  const result = await runSimulation(
    {
      request: {
        principal: `arn:aws:iam::${ACCOUNT_ID}:role/kubeflow-profiles/simulated-role`,
        action,
        resource: {
          resource: `arn:aws:s3:::${call.bucket}${on === 'object' ? `/${call.key ?? ''}` : ''}`,
          accountId: ACCOUNT_ID,
        },
        contextVariables,
      },
      identityPolicies: [{ name: 'inline', policy }],
      ...(boundary === undefined
        ? {}
        : { permissionBoundaryPolicies: [{ name: 'boundary', policy: boundary }] }),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (result.resultType === 'error') {
    throw new Error(`simulation refused ${call.operation}: ${JSON.stringify(result.errors)}`);
  }
  return result.overallResult;
}

/** A readable name for a call in test output. */
export function describeCall(call: S3Call): string {
  if (call.key !== undefined) return `${call.operation} ${call.key}`;
  if (call.prefix === undefined) return `${call.operation} (no prefix)`;
  return `${call.operation} prefix=${JSON.stringify(call.prefix)}${
    call.delimiter === undefined ? '' : ` delimiter=${JSON.stringify(call.delimiter)}`
  }`;
}
