/** The commands the CLI must offer (each is checked for --help with an example). */
export const COMMAND_NAMES = ['up', 'submit', 'ls', 'show', 'logs', 'result', 'artifacts', 'cancel', 'wait', 'nodes', 'node', 'dlq', 'pool', 'pipeline', 'trigger', 'schedule', 'intake', 'drain', 'resume', 'probe', 'token', 'audit', 'report', 'events', 'agent', 'risk', 'demo'];
