// Calls to the Keyserver's public API with the person's access token.
import { accessToken, sessionExpired } from "./auth";

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public field?: string) {
    super(message);
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = accessToken();
  if (!token) {
    await sessionExpired();
    throw new ApiError(401, "unauthenticated", "Your session has ended; signing in again.");
  }
  const headers: Record<string, string> = { Authorization: "Bearer " + token, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 401) {
    await sessionExpired();
    throw new ApiError(401, "unauthenticated", "Your session has ended; signing in again.");
  }
  if (resp.status === 204) return undefined as T;
  let data: unknown = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const e = (data ?? {}) as { error?: string; message?: string; field?: string };
    throw new ApiError(resp.status, e.error ?? "error", e.message ?? `The server answered ${resp.status}.`, e.field);
  }
  return data as T;
}

export interface Principal {
  issuer: string;
  subject: string;
  name?: string;
}
export interface Approval {
  approver: Principal;
  name?: string;
  time: string;
  comment?: string;
}
export interface Grant {
  keyid: string;
  keyinfo?: string;
  algorithm?: string;
  maxusagecount: number;
  usagecount: number;
  requiredapprovals: number;
  approvals: Approval[];
}
export interface Action {
  allowed: boolean;
  reason?: string;
}
export interface Closure {
  by: Principal;
  time: string;
  reason?: string;
}
export interface Operation {
  id: string;
  requester: Principal;
  description: string;
  created: string;
  expires: string;
  keys: Grant[];
  rejected?: Closure;
  cancelled?: Closure;
  approved: boolean;
  status: string;
  actions: { approve: Action; reject: Action; cancel: Action };
  buildcontext?: BuildContext;
}
/** BuildContext is where an operation came from, as its requester's CI token said. */
export interface BuildContext {
  platform: string;
  repository: string;
  repositoryid: string;
  ref: string;
  sha: string;
  workflow: string;
  jobworkflow?: string;
  runid: string;
  runattempt?: string;
  job?: string;
  actor: string;
  event: string;
  environment?: string;
  runurl?: string;
}
export interface AuditEvent {
  time: string;
  actor: Principal;
  action: string;
  keyid?: string;
  result: string;
  detail?: string;
}
export interface Key {
  keyid: string;
  keyinfo: string;
  certificate: string;
  algorithm: string;
  requiredapprovals: number;
  certsubject?: string;
  certissuer?: string;
  certnotbefore?: string;
  certnotafter?: string;
  certsha256?: string;
}
export interface AdminKey {
  keyid: string;
  hsmkey: string;
  requiredapprovals: number;
  keyinfo: string;
  certificate: string;
  algorithm: string;
  enabled: boolean;
  channels?: AdminChannel[];
}
/** AdminChannel is a key's notification channel: never its secret, of its URL only the scheme and host. */
export interface AdminChannel {
  id: string;
  type: string;
  url: string;
  hassecret: boolean;
  events: string[];
}
export interface Subject {
  issuer: string;
  subject: string;
  kind: string;
  name: string;
  roles: string[];
}
export interface Me {
  issuer: string;
  subject: string;
  kind: string;
  name: string;
  roles: string[];
}
export interface Condition {
  claim: string;
  equals?: string;
  glob?: string;
}
export interface Policy {
  id: string;
  issuer: string;
  description: string;
  conditions: Condition[];
  roles: string[];
}
