using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;

namespace SpecNet.Training;

/// <summary>
/// Has the runtime compile a training run's kernels while its data loads. The managed backend's kernels are compiled at their
/// first call, about 0.2 s of a run's first step (bench/NOTES.md, "Optimizer, allocation, start-up"); a step of the same model
/// on a few examples, on a plan, parameters and one-thread backend of its own, makes those calls on a core the loading leaves
/// idle. Nothing of it is shared with the run: the same floats either way.
/// </summary>
public static class WarmUp
{
    /// <summary>Examples in the warm-up's step: the kernels' code does not depend on the batch, and its buffers stay small.</summary>
    private const int Examples = 8;

    /// <summary>
    /// Whether <see cref="Start"/> runs a step: on the managed backend (the others' kernels are compiled ahead), for a model small
    /// enough that the warm-up's own step costs little next to the compiling it saves and its parameters and buffers add little
    /// memory (the reference models: up to 160,000 parameters and 9.4 M multiply-adds an example). A larger model's steps are
    /// long enough that the compiling is a small part of its run anyway.
    /// </summary>
    public static bool Pays(ModelSpec model, IEngine engine) => engine is CpuEngine { Kernels: ManagedBackend }
        && model.TotalParameters <= 1_000_000 && model.Macs <= 50_000_000;

    /// <summary>
    /// Starts one training step (forward and backward) and one evaluation pass of <paramref name="model"/> on zeros in the
    /// background, where it <see cref="Pays"/>; wait for it before the run's first step. Its result is what went wrong, or null:
    /// only a head start, so the run itself meets any such error and reports it where it belongs.
    /// </summary>
    public static Task<Exception?> Start(ModelSpec model, IEngine engine)
    {
        if (!Pays(model, engine)) return Task.FromResult<Exception?>(null);
        return Task.Run(Exception? () =>
        {
            try
            {
                Step(model);
                GC.Collect();     // its buffers given back before the run makes its own
                return null;
            }
            catch (Exception e)
            {
                return e;
            }
        });
    }

    private static void Step(ModelSpec model)
    {
        var parameters = ParameterSet.Initialize(model, 0);
        int n = Math.Min(Examples, model.Training.BatchSize);
        var plan = new CpuEngine(new ManagedBackend(1)).Plan(model, parameters, n, new PlanOptions());
        var loss = Loss.For(model.Training.Loss, model.FinalActivation);
        loss.Compute(plan.Forward(n, training: true), new int[n], n, plan.OutputGradient);
        plan.Backward(loss.Fused);
        plan.Forward(n, training: false);
    }
}
