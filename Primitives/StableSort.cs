namespace MetaGpu.Primitives;

/// <summary>
/// A sort that keeps equal elements in their original order, as LINQ's <c>OrderBy</c> does (<see cref="List{T}.Sort(Comparison{T})"/>
/// does not). The product avoids LINQ because every LINQ call over its types is native code of its own in the
/// binary; this one method is shared by all reference types. Insertion sort: the lists sorted are short (GPUs, one
/// container's processes, metric series) and often sorted already, where it is linear.
/// </summary>
public static class StableSort
{
    public static void Sort<T>(List<T> items, Comparison<T> comparison)
    {
        for (var i = 1; i < items.Count; i++)
        {
            var item = items[i];
            var j = i - 1;
            while (j >= 0 && comparison(items[j], item) > 0)
            {
                items[j + 1] = items[j];
                j--;
            }
            items[j + 1] = item;
        }
    }
}
