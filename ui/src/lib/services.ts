// Whether a service named in the URL exists: the search page must not offer
// a service that never reported a span as if it were one.

export type ServiceStatus = 'all' | 'loading' | 'known' | 'unknown';

/** The status of `service` given the list of `/api/services` (null while loading). */
export function serviceStatus(service: string, services: string[] | null): ServiceStatus {
  if (!service) return 'all';
  if (services === null) return 'loading';
  return services.includes(service) ? 'known' : 'unknown';
}

/** Services whose names are close to `service`: the same ignoring case, or one containing the other. */
export function similarServices(service: string, services: string[], max = 5): string[] {
  const want = service.trim().toLowerCase();
  if (!want) return [];
  return services
    .filter((s) => {
      const have = s.toLowerCase();
      return s !== service && (have === want || have.includes(want) || want.includes(have));
    })
    .slice(0, max);
}

/** The option label of a service in the service picker. */
export function serviceLabel(service: string, services: string[] | null): string {
  return serviceStatus(service, services) === 'unknown' ? `${service} (unknown service)` : service;
}
