namespace MetaGpu.DevicePlugin.Config;

/// <summary>
/// The kubelet's rule for extended resource names (Kubernetes' <c>IsExtendedResourceName</c>), checked here so a bad
/// name fails at startup with a reason instead of as a rejected device-plugin registration.
/// </summary>
public static class ResourceNames
{
    /// <summary>The domain and the name part of a qualified name.</summary>
    public const int MaxNameLength = 63;

    /// <summary>
    /// Kubernetes checks <c>requests.&lt;name&gt;</c> (the quota form) as a qualified name, whose prefix may be 253
    /// characters, so the domain itself has 244.
    /// </summary>
    public const int MaxDomainLength = 253 - 9;

    private const string QuotaPrefix = "requests.";

    public static bool IsValid(string name, out string? why)
    {
        why = Check(name);
        return why is null;
    }

    private static string? Check(string name)
    {
        if (name.Length == 0)
            return "it is empty";
        var slash = name.IndexOf('/');
        if (slash < 0 || name.IndexOf('/', slash + 1) >= 0)
            return "it must contain exactly one '/', between a domain and a name, e.g. example.com/gpu";
        var domain = name[..slash];
        var local = name[(slash + 1)..];

        if (domain.Length == 0)
            return "the domain before '/' is empty";
        if (domain.Length > MaxDomainLength)
            return $"the domain is longer than {MaxDomainLength} characters";
        if (!IsDnsSubdomain(domain))
            return $"the domain {ConfigText.Quote(domain)} is not a lowercase DNS subdomain (dot-separated labels of a-z, 0-9 and '-', each starting and ending with a letter or digit, at most 63 characters)";
        // The kubelet takes any name containing "kubernetes.io/" as one of Kubernetes' own resources.
        if (domain.EndsWith("kubernetes.io", StringComparison.Ordinal))
            return "the kubernetes.io domain and its subdomains are reserved for Kubernetes' own resources";
        if (name.StartsWith(QuotaPrefix, StringComparison.Ordinal))
            return $"names starting with '{QuotaPrefix}' are reserved for resource quotas";

        if (local.Length == 0)
            return "the name after '/' is empty";
        if (local.Length > MaxNameLength)
            return $"the name after '/' is longer than {MaxNameLength} characters";
        if (!IsQualifiedNamePart(local))
            return "the name after '/' must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
        return null;
    }

    private static bool IsDnsSubdomain(string domain)
    {
        foreach (var range in domain.AsSpan().Split('.'))
        {
            var label = domain.AsSpan()[range];
            if (label.Length is 0 or > MaxNameLength || !IsLowerAlnum(label[0]) || !IsLowerAlnum(label[^1]))
                return false;
            foreach (var c in label)
            {
                if (!IsLowerAlnum(c) && c != '-')
                    return false;
            }
        }
        return true;
    }

    private static bool IsQualifiedNamePart(string name)
    {
        if (!char.IsAsciiLetterOrDigit(name[0]) || !char.IsAsciiLetterOrDigit(name[^1]))
            return false;
        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.'))
                return false;
        }
        return true;
    }

    private static bool IsLowerAlnum(char c) => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c);
}
